package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/parley-im/parley/cluster"
	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/handlers"
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// AddUserCommand implements `parleyd adduser -id PHONE -name NAME`: it creates
// an account in the configured database through the same code path as the
// register request (validation, argon2id hash), reading the password from the
// first line of stdin so that it never appears in shell history or ps. It
// returns the process exit code.
func AddUserCommand(cfgPath string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("adduser", flag.ContinueOnError)
	fs.SetOutput(stderr)
	phone := fs.String("id", "", "the account id: the user's phone number, 1 to 20 digits")
	name := fs.String("name", "", "display name")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	password, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(stderr, "adduser: reading the password from stdin:", err)
		return 1
	}
	password = strings.TrimRight(password, "\r\n")
	id, err := addUser(cfgPath, *phone, *name, password)
	if err != nil {
		fmt.Fprintln(stderr, "adduser:", err)
		return 1
	}
	fmt.Fprintln(stdout, "created user", id)
	return 0
}

func addUser(cfgPath, phone, name, password string) (id string, err error) {
	err = withHandlers(cfgPath, func(ctx context.Context, h *handlers.Areas, _ *config.Config) error {
		reply, err := h.Accounts.RegisterAccount(ctx, nil, &wire.RegisterRequest{Phone: phone, Name: name, Password: password})
		if err != nil {
			return err
		}
		id = reply.UserID
		return nil
	})
	return id, err
}

// RevokeCommand implements `parleyd revoke -id USER`: every resume token of
// the user stops working at once (their next reconnect needs the password).
// On a single node live connections are not closed (this command is another
// process). With cluster.nats_url set, the revocation is also announced over
// NATS: every running node closes the user's sessions and forgets their
// cached credentials at once (docs/CLUSTER.md).
func RevokeCommand(cfgPath string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("id", "", "the user whose resume tokens are revoked")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *user == "" {
		fmt.Fprintln(stderr, "revoke: -id is required")
		return 2
	}
	clustered := false
	err := withHandlers(cfgPath, func(ctx context.Context, h *handlers.Areas, cfg *config.Config) error {
		if err := h.Accounts.RevokeResumeTokens(ctx, *user); err != nil {
			return err
		}
		if cfg.Cluster.NATSURL == "" {
			return nil
		}
		clustered = true
		if err := cluster.AnnounceRevoke(ctx, cfg.Cluster, *user); err != nil {
			return fmt.Errorf("tokens revoked in the database, but the nodes were not told (live sessions stay open): %w", err)
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(stderr, "revoke:", err)
		return 1
	}
	fmt.Fprintln(stdout, "revoked every resume token of", *user)
	if clustered {
		fmt.Fprintln(stdout, "every node was told to close the user's sessions")
	}
	return 0
}

// withHandlers opens the configured database and runs f with the handlers
// over it, built as the server builds them (newStore, newHandlers), and the
// configuration, so operator commands take the same code paths (and rules)
// as requests do. A refusal comes back as "code: message".
func withHandlers(cfgPath string, f func(context.Context, *handlers.Areas, *config.Config) error) error {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bdb, err := db.Open(ctx, cfg.DB, zap.NewNop())
	if err != nil {
		return err
	}
	defer bdb.Close()
	h := newHandlers(newStore(bdb, cfg), nil, session.NewRegistry(), cfg, zap.NewNop())
	defer h.Close()
	if err := f(ctx, h, cfg); err != nil {
		var pe *pipeline.Error
		if errors.As(err, &pe) {
			return fmt.Errorf("%s: %s", pe.Code, pe.Message)
		}
		return err
	}
	return nil
}
