package middleware

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/parley-im/parley/pipeline"
)

// What the middleware in this package share: reading pipeline.Deps with safe
// fallbacks, checking configured type names against the router, and
// classifying a handler result without allocating.

// loggerOf returns the Deps logger, or a no-op logger when none was given (unit
// tests, tools), so middleware never checks for nil on the request path.
func loggerOf(d pipeline.Deps) *zap.Logger {
	if d.Log == nil {
		return zap.NewNop()
	}
	return d.Log
}

// checkTypes reports configured message types that the router does not serve.
// A typo in a type name would otherwise silently configure nothing. When Deps
// carries no type list (unit tests, tools) every name is accepted.
func checkTypes(d pipeline.Deps, option string, names []string) error {
	if len(d.Types) == 0 {
		return nil
	}
	var unknown []string
	for _, n := range names {
		if !slices.Contains(d.Types, n) {
			unknown = append(unknown, fmt.Sprintf("%q", n))
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return fmt.Errorf("%s: no message type %s (the router serves: %s)",
		option, strings.Join(unknown, ", "), strings.Join(d.Types, ", "))
}

// receivedAt is when req entered the pipeline. The edge reads the clock once
// per frame (Request.Received) and every middleware shares that reading
// instead of taking its own: on the reference machine a clock read costs
// about 80ns, more than most middleware cost in total. A request built
// without the edge (a test, a tool) has no reading; take one then.
// markReceived stamps a request that arrived without a receive time (one
// built by hand, not by the edge) with now, before the chain below runs, so
// that what reports its duration once it is answered measures the chain.
func markReceived(req *pipeline.Request) {
	if req.Received.IsZero() {
		req.Received = time.Now()
	}
}

func receivedAt(req *pipeline.Request) time.Time {
	if req.Received.IsZero() {
		return time.Now()
	}
	return req.Received
}

// otherType stands for every message type the router does not serve.
const otherType = "other"

// knownTypes is the set of types the router serves, used to bound what
// client input may become: a metric label, a log field. The "type" of a
// request is chosen by the client; only a served type is echoed verbatim.
type knownTypes map[string]struct{}

func knownTypesOf(d pipeline.Deps) knownTypes {
	k := make(knownTypes, len(d.Types))
	for _, t := range d.Types {
		k[t] = struct{}{}
	}
	return k
}

// label returns typ if the router serves it, else "other".
func (k knownTypes) label(typ string) string {
	if _, ok := k[typ]; ok {
		return typ
	}
	return otherType
}

// outcomeOf is pipeline.Classify with a type switch in front: the errors
// middleware return are unwrapped *pipeline.Error or *pipeline.Disconnect
// values, and matching them directly keeps the refusal path free of the
// allocation errors.As makes. Wrapped errors still take the general path.
func outcomeOf(err error) (pipeline.Outcome, string) {
	switch e := err.(type) {
	case nil:
		return pipeline.OutcomeOK, ""
	case *pipeline.Error:
		return pipeline.OutcomeError, e.Code
	case *pipeline.Disconnect:
		return pipeline.OutcomeDisconnect, e.Code
	}
	return pipeline.Classify(err)
}

// register adds c to reg and returns the collector to use: c itself, or the
// identical collector an earlier build of the chain registered (tests and
// config reloads build the chain more than once on one registry). A nil reg
// leaves c unregistered, which is what unit tests without metrics want. The
// caller asserts the result back to c's type; a mismatch means another
// package registered the same name with another type, a start-up error.
func register(reg prometheus.Registerer, c prometheus.Collector) (prometheus.Collector, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		return are.ExistingCollector, nil
	}
	return nil, err
}
