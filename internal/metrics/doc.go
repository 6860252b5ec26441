// Package metrics owns collabgw's CloudWatch metrics: the catalog (every
// metric's name, unit, dimension sets and emitter, the single source of
// truth the Terraform dashboard and alarms are checked against) and a
// Recorder that writes them as CloudWatch Embedded Metric Format (EMF)
// documents, one JSON object per line, to an io.Writer (stdout on Lambda
// and ECS, where the log agent ships each line and CloudWatch extracts the
// metrics).
//
// Why our own writer: AWS publishes EMF libraries for Node.js, Python, Java
// and .NET but none for Go, and the community Go ones are unmaintained or
// not on the module proxy; the format is small and fully specified, so a
// hundred lines that follow the specification exactly (and a test that
// validates every document against a JSON schema of it, testdata/) are
// cheaper to trust than a dependency.
//
// One Recorder serves both kinds of process:
//   - a Lambda function records during an invocation and calls Flush before
//     returning, so each invocation's metrics leave with it;
//   - the long-lived edge calls Run, which flushes on an interval and once
//     more when its context ends (SIGTERM), after an optional collect
//     callback has set the gauges.
//
// The Recorder is safe for concurrent use and bounded: at most MaxSeries
// distinct (metric, dimension values) series between two flushes, and at
// most MaxValuesPerSeries values per distribution series (a full series is
// written out at once, so no value is lost). Records over a limit, or that
// do not match the catalog, are dropped and counted in MetricsDropped by
// reason, which the next flush reports.
package metrics
