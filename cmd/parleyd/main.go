// Command parleyd is the Parley chat server.
//
//	parleyd [-config parley.yaml]                         serve
//	parleyd [-config parley.yaml] adduser -id PHONE -name NAME   create a user (password on stdin)
package main

import (
	"flag"
	"os"

	"github.com/parley-im/parley/app"
)

func main() {
	cfgPath := flag.String("config", "", "configuration file (default: parley.yaml if present, else built-in defaults)")
	flag.Parse()
	if flag.Arg(0) == "adduser" {
		os.Exit(app.AddUserCommand(*cfgPath, flag.Args()[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	app.New(*cfgPath).Run()
}
