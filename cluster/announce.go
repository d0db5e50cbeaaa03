package cluster

import (
	"context"
	"os"

	"github.com/parley-im/parley/config"
)

// AnnounceRevoke tells every node that userID's resume tokens were revoked
// (`parleyd revoke` calls it after revoking them in the database): each node
// forgets the user's cached credentials and closes their sessions at once.
// It returns once NATS has the event.
func AnnounceRevoke(ctx context.Context, cfg config.Cluster, userID string) error {
	host, _ := os.Hostname()
	nc, err := connect(cfg, "parleyd revoke@"+host, false)
	if err != nil {
		return err
	}
	defer nc.Close()
	subj := cfg.SubjectPrefix + ".ctl"
	if err := nc.Publish(subj, append([]byte{ctlRevoke}, userID...)); err != nil {
		return err
	}
	return nc.FlushWithContext(ctx)
}
