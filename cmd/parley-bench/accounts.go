package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// account is one user of a server the bench did not seed (-accounts): its
// id, its password and the id of the friend it sends its messages to.
type account struct{ id, password, partner string }

// roster is the -accounts list, or nil when the bench seeds its own users
// (uid, friendOf and passwordOf then name the bench's users). It is set once
// by main before any scenario runs and read-only afterwards: every scenario
// that addresses users by index (storm, chat) then speaks as these accounts,
// so one generator can drive any seed-protocol server, the C++ seed
// included, with users it already has.
var roster *accountList

type accountList struct {
	accts   []account
	partner []int // index of each account's partner in accts
}

// readAccounts reads -accounts FILE.
func readAccounts(path string) (*accountList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l, err := parseAccounts(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// parseAccounts reads lines of `id password partner` (blank lines and lines
// starting with # are skipped). Every partner must itself be listed: the
// bench logs both ends in to measure delivery, and a partner it never logs
// in would turn every message into an offline store.
func parseAccounts(r io.Reader) (*accountList, error) {
	l := &accountList{}
	at := map[string]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want `id password partner`, got %d fields", n, len(f))
		}
		if _, dup := at[f[0]]; dup {
			return nil, fmt.Errorf("line %d: account %s listed twice", n, f[0])
		}
		if f[0] == f[2] {
			return nil, fmt.Errorf("line %d: account %s is its own partner", n, f[0])
		}
		at[f[0]] = len(l.accts)
		l.accts = append(l.accts, account{id: f[0], password: f[1], partner: f[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(l.accts) == 0 {
		return nil, fmt.Errorf("no accounts")
	}
	l.partner = make([]int, len(l.accts))
	for i, a := range l.accts {
		p, ok := at[a.partner]
		if !ok {
			return nil, fmt.Errorf("account %s: partner %s is not listed", a.id, a.partner)
		}
		l.partner[i] = p
	}
	return l, nil
}

// need fails when a scenario wants more users than the list has.
func (l *accountList) need(n int) error {
	if n > len(l.accts) {
		return fmt.Errorf("-accounts lists %d accounts, the scenario needs %d", len(l.accts), n)
	}
	return nil
}

// passwordOf is user i's password.
func passwordOf(i int) string {
	if roster != nil {
		return roster.accts[i].password
	}
	return benchPassword
}
