package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// DefaultPath is the file Load reads when it is given no path and the file
// exists in the working directory.
const DefaultPath = "parley.yaml"

// maxFileSize bounds what Load reads: a configuration file is a few
// kilobytes, so anything near this is a wrong path, not a config.
const maxFileSize = 1 * mib

// Load builds the configuration in three layers, later ones winning:
//
//  1. Default();
//  2. the YAML file at path, decoded strictly (an unknown key anywhere is an
//     error naming file:line). With path "", DefaultPath is read if it exists
//     in the working directory; otherwise only the defaults are used and
//     Source stays "". A pipeline list in the file replaces the default chain;
//     each entry's with: node is kept undecoded for pipeline.Build;
//  3. PARLEY_<SECTION>_<KEY> environment variables for scalar keys, e.g.
//     PARLEY_TRANSPORT_MAX_FRAME=2048 or PARLEY_DB_DSN=postgres://...
//
// and then runs Validate. Every problem from every layer is returned at once
// in one *Error, each located at its file:line or environment variable, so an
// operator fixes everything in one pass. A file that cannot be read at all is
// a plain error.
func Load(path string) (*Config, error) {
	return load(path, os.Environ())
}

// load is Load with the environment passed in, so tests need not touch the
// process environment.
func load(path string, environ []string) (*Config, error) {
	cfg := Default()
	cfg.origins = map[string]origin{}
	if path == "" {
		switch _, err := os.Stat(DefaultPath); {
		case err == nil:
			path = DefaultPath
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	var problems []Problem
	if path != "" {
		data, err := readFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		cfg.Source = path
		problems = append(problems, decodeFile(path, data, &cfg)...)
	}
	problems = append(problems, applyEnv(&cfg, environ)...)
	var verr *Error
	if errors.As(cfg.Validate(), &verr) {
		problems = append(problems, verr.Problems...)
	}
	if err := errorOf(problems); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes; is this the configuration file?", path, maxFileSize)
	}
	return data, nil
}

// decodeFile decodes one YAML document over cfg and returns every problem
// found; keys it sets are recorded in cfg.origins.
func decodeFile(path string, data []byte, cfg *Config) []Problem {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file means "all defaults"
		}
		return []Problem{syntaxProblem(path, err)}
	}
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case err == nil:
		return []Problem{problemAt(origin{file: path, line: second.Line}, "",
			"a second YAML document (---); Parley reads exactly one")}
	case !errors.Is(err, io.EOF):
		return []Problem{syntaxProblem(path, err)}
	}
	if len(doc.Content) == 0 {
		return nil
	}
	d := newFileDecoder(path, cfg.origins)
	d.value(doc.Content[0], reflect.ValueOf(cfg).Elem(), "", doc.Content[0].Line)
	return d.fileProblems()
}

// yamlLine extracts the line from go-yaml's "yaml: line N: msg" errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func syntaxProblem(path string, err error) Problem {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return problemAt(origin{file: path, line: line}, "", "invalid YAML: "+m[2])
	}
	return Problem{Where: path, Msg: "invalid YAML: " + err.Error()}
}
