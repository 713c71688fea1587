// Package client holds what the client programs share: a rest.Config from flags, and the JSON
// result line the tests read.
package client

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"k8s.io/client-go/rest"
)

// Flags are the connection flags of every client program.
type Flags struct {
	Server *string
	CA     *string
	Token  *string
}

// RegisterFlags declares --server, --ca and --token.
func RegisterFlags() Flags {
	return Flags{
		Server: flag.String("server", "", "API server (or gateway) URL, https://…"),
		CA:     flag.String("ca", "", "CA certificate file to trust"),
		Token:  flag.String("token", "", "bearer token"),
	}
}

// Config is the rest.Config client-go's executors and dialers take.
func (f Flags) Config() *rest.Config {
	if *f.Server == "" {
		Fail(fmt.Errorf("--server is required"))
	}
	return &rest.Config{Host: *f.Server, BearerToken: *f.Token, TLSClientConfig: rest.TLSClientConfig{CAFile: *f.CA}}
}

// WriteResult writes one JSON line to path (or stdout when path is empty).
func WriteResult(path string, result any) {
	line, _ := json.Marshal(result)
	line = append(line, '\n')
	if path == "" {
		_, _ = os.Stdout.Write(line)
		return
	}
	if err := os.WriteFile(path, line, 0o600); err != nil {
		Fail(err)
	}
}

// Fail reports a usage or setup error and exits 2.
func Fail(err error) {
	fmt.Fprintf(os.Stderr, "client: %v\n", err)
	os.Exit(2)
}
