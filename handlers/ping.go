package handlers

import (
	"context"

	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

// pong is encoded once: every pong is the same bytes (the edge adds the seq).
var pong = pipeline.Reply(`{"type":"pong","status":"success"}`)

// Ping answers a heartbeat and marks the session as one that speaks
// heartbeats, which puts it under the (short) heartbeat idle timeout.
func Ping(_ context.Context, req *pipeline.Request, _ *wire.Ping) (pipeline.Reply, error) {
	req.Session.MarkPinged()
	return pong, nil
}
