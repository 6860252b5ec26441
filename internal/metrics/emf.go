package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The EMF document (CloudWatch Embedded Metric Format specification): a
// JSON object whose _aws member holds the Timestamp and the metric
// directives; every dimension and metric a directive names is a member of
// the root ("target members"). Series that share their dimension values
// share a document, one directive per distinct list of dimension sets.

type emfMetadata struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

type emfDirective struct {
	Namespace  string          `json:"Namespace"`
	Dimensions [][]string      `json:"Dimensions"`
	Metrics    []emfDefinition `json:"Metrics"`
}

type emfDefinition struct {
	Name string `json:"Name"`
	Unit Unit   `json:"Unit,omitempty"`
}

// encode renders series as EMF documents, each ending in a newline, in a
// deterministic order.
func encode(all []*series, props map[string]string, now time.Time) ([][]byte, error) {
	groups := map[string][]*series{}
	var keys []string
	for _, s := range all {
		k := dimsKey(s.dims)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], s)
	}
	slices.Sort(keys)
	var docs [][]byte
	for _, k := range keys {
		group := groups[k]
		slices.SortFunc(group, func(a, b *series) int { return strings.Compare(a.metric.Name, b.metric.Name) })
		doc, err := document(group, props, now)
		if err != nil {
			return nil, err
		}
		if len(doc) > MaxDocumentBytes && len(group) > 1 {
			// Too big together (cannot happen with the catalog's sizes, but
			// the limit is CloudWatch's): one series per document.
			for _, s := range group {
				one, err := document([]*series{s}, props, now)
				if err != nil {
					return nil, err
				}
				docs = append(docs, one)
			}
			continue
		}
		docs = append(docs, doc)
	}
	return docs, nil
}

func dimsKey(dims []Dim) string {
	var b strings.Builder
	for _, d := range dims {
		b.WriteString(d.Name)
		b.WriteByte(0)
		b.WriteString(d.Value)
		b.WriteByte(0)
	}
	return b.String()
}

// document renders series that share their dimension values as one EMF
// document.
func document(group []*series, props map[string]string, now time.Time) ([]byte, error) {
	root := make(map[string]any, len(props)+len(group)+4)
	for k, v := range props {
		root[k] = v
	}
	for _, d := range group[0].dims {
		root[d.Name] = d.Value
	}
	meta := emfMetadata{Timestamp: now.UnixMilli()}
	byDims := map[string]int{} // rendered dimension sets -> directive index
	for _, s := range group {
		if s.metric.Kind == Distribution {
			root[s.metric.Name] = s.values
		} else {
			root[s.metric.Name] = s.sum
		}
		sets := s.metric.setsFor(s.dims)
		k := fmt.Sprint(sets)
		i, ok := byDims[k]
		if !ok || len(meta.CloudWatchMetrics[i].Metrics) >= MaxMetricsPerDirective {
			i = len(meta.CloudWatchMetrics)
			byDims[k] = i
			meta.CloudWatchMetrics = append(meta.CloudWatchMetrics, emfDirective{Namespace: Namespace, Dimensions: sets})
		}
		d := &meta.CloudWatchMetrics[i]
		d.Metrics = append(d.Metrics, emfDefinition{Name: s.metric.Name, Unit: s.metric.Unit})
	}
	root["_aws"] = meta
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil { // Encode ends the line
		return nil, fmt.Errorf("metrics: encode: %w", err)
	}
	return buf.Bytes(), nil
}
