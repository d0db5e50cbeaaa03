package importseed

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// OpenSource opens the seed database named by a go-sql-driver/mysql DSN
// (user:pass@tcp(host:3306)/animalchat) and returns it with a name for it
// that carries no password: the checkpoints are kept per source name.
func OpenSource(dsn string) (*sql.DB, string, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, "", fmt.Errorf("seed DSN: %w", err)
	}
	if cfg.DBName == "" {
		return nil, "", fmt.Errorf("seed DSN names no database (…/animalchat)")
	}
	// Dates are parsed here, in the seed server's time zone, and a
	// zero date (0000-00-00) is reported instead of failing the scan.
	cfg.ParseTime = false
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, "", err
	}
	src := sql.OpenDB(conn)
	src.SetMaxOpenConns(2) // one paging query and one lookup at a time
	return src, cfg.Net + "(" + cfg.Addr + ")/" + cfg.DBName, nil
}

// table is one seed table read in primary-key order, a page at a time
// (keyset paging: each page starts after the last key of the one before, so
// no page costs more than the first and a resumed import starts where the
// checkpoint is).
type table struct {
	name string
	// cols is the select list. Text columns are read as the bytes stored
	// (CAST ... AS BINARY): a seed created with latin1 columns holds the
	// UTF-8 the C++ server wrote, which a converting read would garble;
	// bytes that are not UTF-8 are then reported and repaired here.
	cols string
	keys []string // primary key columns, in order
}

var (
	userTable = table{"m_user",
		"CAST(user_id AS BINARY), CAST(user_password AS BINARY), CAST(user_phone AS BINARY), " +
			"CAST(user_name AS BINARY), CAST(user_email AS BINARY), CAST(user_avatar AS BINARY), " +
			"CAST(user_status AS BINARY), user_created",
		[]string{"user_id"}}
	relationTable = table{"m_friends_relation",
		"CAST(user_id AS BINARY), CAST(friend_id AS BINARY), CAST(friend_relation AS BINARY), created_relation",
		[]string{"user_id", "friend_id"}}
	chatTable = table{"m_chatlist",
		"CAST(user_id AS BINARY), CAST(comm_id AS BINARY), CAST(chat_type AS BINARY), " +
			"CAST(last_message AS BINARY), CAST(last_message_type AS BINARY), last_time, unread_count, " +
			"CAST(chat_status AS BINARY)",
		[]string{"user_id", "comm_id"}}
	messageTable = table{"m_friends_message",
		"message_id, CAST(sender_id AS BINARY), CAST(receiver_id AS BINARY), CAST(chat_type AS BINARY), " +
			"CAST(message_body AS BINARY), CAST(message_type AS BINARY), CAST(file_path AS BINARY), " +
			"CAST(message_status AS BINARY), message_timestamp",
		[]string{"message_id"}}
)

// after returns the WHERE clause selecting rows after key (nil: all).
// String keys are compared as strings in the column's collation, the order
// of ORDER BY.
func (t table) after(key []any) (string, []any) {
	switch {
	case key == nil:
		return "", nil
	case len(t.keys) == 1:
		return " WHERE " + t.keys[0] + " > ?", key
	default:
		return fmt.Sprintf(" WHERE (%s > ? OR (%s = ? AND %s > ?))", t.keys[0], t.keys[0], t.keys[1]),
			[]any{key[0], key[0], key[1]}
	}
}

// page returns up to n rows after key, in key order.
func (t table) page(ctx context.Context, src *sql.DB, key []any, n int) (*sql.Rows, error) {
	where, args := t.after(key)
	q := "SELECT " + t.cols + " FROM " + t.name + where + " ORDER BY " + strings.Join(t.keys, ", ") +
		fmt.Sprintf(" LIMIT %d", n)
	return src.QueryContext(ctx, q, args...)
}

// count returns the number of rows after key.
func (t table) count(ctx context.Context, src *sql.DB, key []any) (int64, error) {
	where, args := t.after(key)
	var n int64
	err := src.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t.name+where, args...).Scan(&n)
	return n, err
}
