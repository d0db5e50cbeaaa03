// Command parleyd is the Parley chat server.
//
//	parleyd [-config parley.yaml]                         serve
//	parleyd [-config parley.yaml] adduser -id PHONE -name NAME   create a user (password on stdin)
//	parleyd [-config parley.yaml] revoke -id USER                revoke the user's resume tokens
//	parleyd [-config parley.yaml] import-seed -from DSN [-workers N] [-dry-run]
//	                                                      import the C++ seed server's MySQL database
package main

import (
	"flag"
	"os"

	"github.com/parley-im/parley/app"
)

func main() {
	cfgPath := flag.String("config", "", "configuration file (default: parley.yaml if present, else built-in defaults)")
	flag.Parse()
	switch flag.Arg(0) {
	case "adduser":
		os.Exit(app.AddUserCommand(*cfgPath, flag.Args()[1:], os.Stdin, os.Stdout, os.Stderr))
	case "revoke":
		os.Exit(app.RevokeCommand(*cfgPath, flag.Args()[1:], os.Stdout, os.Stderr))
	case "import-seed":
		os.Exit(app.ImportSeedCommand(*cfgPath, flag.Args()[1:], os.Stdout, os.Stderr))
	}
	app.New(*cfgPath).Run()
}
