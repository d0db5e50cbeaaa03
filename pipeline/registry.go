package pipeline

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/session"
)

// Deps is what a middleware factory may use. It is filled by app at start-up.
type Deps struct {
	Log      *zap.Logger
	Sessions *session.Registry
	// Metrics registers the middleware's collectors (served on the admin port).
	Metrics prometheus.Registerer
	// Types are the message types the router serves. Use them to bound label
	// sets: a type outside this list is client input and must not become a
	// new metric series or map key.
	Types []string
	// Accept lets a middleware veto connections at accept time (per-IP caps).
	Accept *AcceptGate
}

// AcceptGate collects checks that run when a connection is accepted. The
// checks run on a gev loop goroutine: they must be quick and never block.
type AcceptGate struct {
	mu     sync.RWMutex
	checks []func(ip string) bool
}

// Add registers a check; a false result closes the new connection.
func (g *AcceptGate) Add(check func(ip string) bool) {
	g.mu.Lock()
	g.checks = append(g.checks, check)
	g.mu.Unlock()
}

// Allow reports whether every check accepts a connection from ip. A nil gate
// allows everything.
func (g *AcceptGate) Allow(ip string) bool {
	if g == nil {
		return true
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, c := range g.checks {
		if !c(ip) {
			return false
		}
	}
	return true
}

// Factory builds a middleware from its decoded options.
type factory struct {
	build func(with *yaml.Node, deps Deps) (Middleware, error)
}

var (
	registryMu sync.RWMutex
	registry   = map[string]factory{}
)

// Register makes a middleware available under name. O is its options type:
// the entry's "with:" mapping is decoded into a zero O by config.DecodeStrict
// (the decoder of the configuration file itself, merge keys included), and
// any key that O does not declare is a start-up error naming its line. Call it from an init function, with
// nothing else in that init.
func Register[O any](name string, f func(opts O, deps Deps) (Middleware, error)) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("pipeline: middleware registered twice: " + name)
	}
	registry[name] = factory{build: func(with *yaml.Node, deps Deps) (Middleware, error) {
		var opts O
		if err := config.DecodeStrict(with, &opts); err != nil {
			return nil, err
		}
		return f(opts, deps)
	}}
}

// Registered lists the registered middleware names, sorted.
func Registered() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Build turns the configured list (config.Config.Pipeline: config decodes
// the file, pipeline knows the middleware) into one Handler around final
// (the router).
// The first spec is the outermost middleware. Every problem (unknown name, bad
// option, only+except together) is reported, each with its file:line.
func Build(specs []config.Middleware, deps Deps, final Handler) (Handler, error) {
	var problems []string
	mws := make([]Middleware, 0, len(specs))
	registryMu.RLock()
	defer registryMu.RUnlock()
	for _, sp := range specs {
		f, ok := registry[sp.Use]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: unknown middleware %q (known: %s)", sp.Pos, sp.Use, strings.Join(knownLocked(), ", ")))
			continue
		}
		if len(sp.Only) > 0 && len(sp.Except) > 0 {
			problems = append(problems, fmt.Sprintf("%s: %s: use either only or except, not both", sp.Pos, sp.Use))
			continue
		}
		mw, err := f.build(&sp.With, deps)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s: %v", sp.Pos, sp.Use, err))
			continue
		}
		mws = append(mws, restrict(mw, sp.Only, sp.Except))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("pipeline:\n  %s", strings.Join(problems, "\n  "))
	}
	return Chain(final, mws...), nil
}

func knownLocked() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// restrict applies mw only to the listed types (only) or to all but them
// (except). The set is a map built once; per frame it is one lookup.
func restrict(mw Middleware, only, except []string) Middleware {
	if len(only) == 0 && len(except) == 0 {
		return mw
	}
	set := make(map[string]struct{}, len(only)+len(except))
	for _, t := range append(append([]string(nil), only...), except...) {
		set[t] = struct{}{}
	}
	applyIfListed := len(only) > 0
	return func(next Handler) Handler {
		wrapped := mw(next)
		return func(ctx context.Context, req *Request) (Reply, error) {
			if _, listed := set[req.Type]; listed == applyIfListed {
				return wrapped(ctx, req)
			}
			return next(ctx, req)
		}
	}
}
