package edge

// logDrops logs at info level the connections and messages the edge
// dropped or refused since the previous metrics flush (once a minute),
// by reason, when any moved. Each drop alone is a debug line (a flood would
// drown the log); this summary lets an operator, or someone watching the
// local stack, see hostile or overloaded traffic without debug logging.
func (s *Server) logDrops(cur, prev Stats) {
	var attrs []any
	for c := range numCounters {
		reason, ok := rejectReasons[c]
		if !ok {
			continue
		}
		if n := cur.Events[counterNames[c]] - prev.Events[counterNames[c]]; n > 0 {
			attrs = append(attrs, reason, n)
		}
	}
	if len(attrs) > 0 {
		s.cfg.log.Info("drops counted in the last minute", attrs...)
	}
}
