package importseed

import (
	"context"
	"database/sql"
	"strings"

	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/wire"
)

const relationRefused = "refused"

var relationValues = []string{wire.RelationPending, wire.RelationAccepted, relationRefused}

type seedRelation struct {
	user, friend, relation, created []byte
}

type pairKey struct{ a, b string }

// relationBatch maps a page of m_friends_relation. The seed stores a
// relation as two directed rows, which may disagree; a pair is decided
// once, when its row with the smaller user_id (byte order) is read, from
// both rows (the other one is looked up), so a pair never depends on the
// batch it falls in and never splits across a checkpoint.
//
// Decisions:
//   - both rows agree: the pair is imported as it is; a pending request's
//     direction is unknown (the seed's AddFriend writes both rows alike), so
//     requested_by stays NULL: either side may accept, as in the seed;
//   - one row only: the mirror row is added (repaired); a lone pending row
//     u→f shows f's request to u, so f is the requester;
//   - accepted against pending: accepted (the seed's accept updates both
//     rows; a half-applied one was accepted), repaired;
//   - refused (either row): skipped. Parley has no refused state, and the
//     seed's own refusal deletes both rows;
//   - a user with themself, or an id naming no imported user: skipped.
func (im *importer) relationBatch(rows *sql.Rows) ([]any, int, writeFn, error) {
	var page []seedRelation
	for rows.Next() {
		var r seedRelation
		if err := rows.Scan(&r.user, &r.friend, &r.relation, &r.created); err != nil {
			return nil, 0, writeFn{}, err
		}
		page = append(page, r)
	}
	if err := rows.Err(); err != nil || len(page) == 0 {
		return nil, 0, writeFn{}, err
	}
	rows.Close()
	mirrors, err := im.mirrors(page)
	if err != nil {
		return nil, 0, writeFn{}, err
	}
	var out []db.ImportedRelation
	for _, r := range page {
		out = append(out, im.relationPair(r, mirrors)...)
	}
	last := page[len(page)-1]
	return []any{string(last.user), string(last.friend)}, len(page), writeFn{len(out), func(ctx context.Context, tx db.ImportTx) (int64, error) {
		return tx.InsertRelations(ctx, out)
	}}, nil
}

// mirrors looks up the reverse rows (friend_id, user_id) of a page.
func (im *importer) mirrors(page []seedRelation) (map[pairKey]seedRelation, error) {
	var sb strings.Builder
	args := make([]any, 0, 2*len(page))
	for i, r := range page {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?)")
		args = append(args, string(r.friend), string(r.user))
	}
	rows, err := im.src.QueryContext(im.work, "SELECT "+relationTable.cols+" FROM m_friends_relation "+
		"WHERE (user_id, friend_id) IN ("+sb.String()+")", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[pairKey]seedRelation)
	for rows.Next() {
		var r seedRelation
		if err := rows.Scan(&r.user, &r.friend, &r.relation, &r.created); err != nil {
			return nil, err
		}
		out[pairKey{string(r.user), string(r.friend)}] = r
	}
	return out, rows.Err()
}

// relationPair decides the pair of row r (see relationBatch): the directed
// rows to write, none if skipped or decided with the other row.
func (im *importer) relationPair(r seedRelation, mirrors map[pairKey]seedRelation) []db.ImportedRelation {
	key := keyOf("user_id", r.user, "friend_id", r.friend)
	m, hasMirror := mirrors[pairKey{string(r.friend), string(r.user)}]
	u, why := seedID(r.user)
	if why != "" {
		im.skip(StepRelations, key, "user_id "+why)
		return nil
	}
	f, why := seedID(r.friend)
	if why != "" {
		im.skip(StepRelations, key, "friend_id "+why)
		return nil
	}
	if u == f {
		im.skip(StepRelations, key, "a relation of a user with themself")
		return nil
	}
	if hasMirror && u > f {
		return nil // decided with its mirror, the row of the smaller id
	}
	rows := 1
	if hasMirror {
		rows = 2
	}
	skip := func(why string) []db.ImportedRelation {
		im.sum.Steps[StepRelations].Skipped += int64(rows) - 1
		im.skip(StepRelations, key, why)
		return nil
	}
	switch {
	case !im.known(u):
		return skip("user_id names no imported user (missing from m_user, or skipped)")
	case !im.known(f):
		return skip("friend_id names no imported user (missing from m_user, or skipped)")
	}
	fx := im.fixer(StepRelations, key)
	rel := fx.enum("friend_relation", r.relation, wire.RelationPending, relationValues...)
	created := fx.when("created_relation", r.created)
	requestedBy := ""
	if !hasMirror {
		switch rel {
		case relationRefused:
			return skip("refused request (Parley has no refused state; the seed's refusal deletes the relation)")
		case wire.RelationPending:
			requestedBy = f // u sees f's request
		}
		fx.fix("the reverse row (friend_id, user_id) is missing: added")
	} else {
		mkey := keyOf("user_id", m.user, "friend_id", m.friend)
		mfx := im.fixer(StepRelations, mkey)
		mrel := mfx.enum("friend_relation", m.relation, wire.RelationPending, relationValues...)
		if mt := mfx.when("created_relation", m.created); mt.Before(created) {
			created = mt
		}
		switch {
		case rel == relationRefused || mrel == relationRefused:
			return skip("refused request (Parley has no refused state; the seed's refusal deletes the relation)")
		case rel != mrel:
			fx.fix("the two rows disagree (" + rel + " / " + mrel + "): accepted")
			rel = wire.RelationAccepted
		}
		if mfx.repaired {
			im.sum.Steps[StepRelations].Repaired++
		}
	}
	if fx.repaired {
		im.sum.Steps[StepRelations].Repaired++
	}
	return []db.ImportedRelation{
		{UserID: u, FriendID: f, Relation: rel, RequestedBy: requestedBy, Created: created},
		{UserID: f, FriendID: u, Relation: rel, RequestedBy: requestedBy, Created: created},
	}
}
