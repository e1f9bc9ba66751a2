// Command pulumi-resource-command-standin is a TEST STAND-IN for the pulumi-command 1.2.1 resource
// plugin, installed only into the engine tests' PULUMI_HOME (scripts/toolchain.sh) because the real
// provider module is not served by the Go module proxy here. Users run the released pulumi-command.
//
// It implements command:remote:Command as the engine sees the real one: the same inputs (the Python
// SDK fills in the connection defaults: user root, port 22, dialErrorLimit 10, perDialTimeout 15),
// stdout and stderr as outputs (unknown in a preview), `triggers` the only input whose change replaces,
// every other change an update that would re-run `update` (or else `create`). It never opens
// SSH: a create or update that would run a command fails with "stand-in: cannot run remote
// commands", so the engine tests only `up` stacks without commands; Delete runs nothing and
// succeeds.
package main

import (
	"errors"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"contest-k8s/tools/internal/standin"
)

var errNoRemote = errors.New("stand-in: cannot run remote commands (pulumi-command 1.2.1 is not available here; " +
	"the engine tests only apply stacks without commands)")

func main() {
	standin.Main(standin.Provider{
		Name:    "command",
		Version: "1.2.1",
		Resources: map[string]*standin.Resource{
			"command:remote:Command": {
				Inputs: []string{"addPreviousOutputInEnv", "connection", "create", "delete", "environment",
					"logging", "stdin", "triggers", "update"},
				Required:      []string{"connection"},
				Computed:      []string{"stdout", "stderr"},
				UpdateInPlace: func(key string) bool { return key != "triggers" },
				Validate: func(in standin.Props) map[string]string {
					if c := in.Obj("connection"); in.Has("connection") && !c.Has("host") {
						return map[string]string{"connection.host": "Missing required property 'host'"}
					}
					return nil
				},
				Create: func(name string, in standin.Props) (string, map[string]resource.PropertyValue, error) {
					if in.Has("create") {
						return "", nil, errNoRemote
					}
					id, err := resource.NewUniqueHex(name, 8, 0)
					if err != nil {
						return "", nil, err
					}
					return id, map[string]resource.PropertyValue{"stdout": standin.String(""), "stderr": standin.String("")}, nil
				},
				PreviewUpdateUnknown: []string{"stdout", "stderr"},
				Update: func(_ string, _, news standin.Props) (map[string]resource.PropertyValue, error) {
					if news.Has("update") || news.Has("create") {
						return nil, errNoRemote
					}
					return nil, nil
				},
			},
		},
	})
}
