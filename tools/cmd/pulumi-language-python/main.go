// Command pulumi-language-python is this project's own build of a Pulumi language host for Python,
// used by the engine tests only.
//
// Why it exists: the real host (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3)
// is a module of its own that the Go module proxy reachable here does not serve at any version,
// so scripts/toolchain.sh cannot build it. The engine needs a language host to run a Python program
// at all, so this one does the part of the host's job that `pulumi preview/up/refresh/destroy` use,
// the same way the released host of the pinned CLI's version does: it runs the SDK's own
// `pulumi-language-python-exec` script (copied from the pulumi/sdk/v3 module next to this binary)
// with the virtualenv from Pulumi.yaml's `runtime.options`, through the SDK's python/toolchain
// package, and reports the Pulumi packages installed in that virtualenv (their pulumi-plugin.json)
// as the plugins the program needs. A real user runs the released host that ships with the CLI.
//
// Implemented: Handshake, GetRequiredPackages (and GetRequiredPlugins from the same data), Run,
// GetPluginInfo, InstallDependencies (pip install -r requirements.txt through the toolchain, as the
// real host does), About, GetProgramDependencies, RuntimeOptionsPrompts, Cancel. Everything else
// (code generation, packing, plugins written in Python, debugging, type checkers) answers
// Unimplemented.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

const (
	execScript = "pulumi-language-python-exec" // the SDK's program runner, beside this binary
	// The Python runtime reads the stack's config and the list of its secret keys from these.
	configEnv           = "PULUMI_CONFIG"
	configSecretKeysEnv = "PULUMI_CONFIG_SECRET_KEYS"
	// The exec script exits with this code after it has already shown the user a clear error.
	exitUserActionable = 32
)

func main() {
	tracing := flag.String("tracing", "", "Emit tracing to a Zipkin-compatible tracing endpoint")
	showVersion := flag.Bool("version", false, "Print the plugin version and exit")
	executor := flag.String("use-executor", "", "Run programs with this script instead of the one beside this binary")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Version)
		return
	}
	logging.InitLogging(false, 0, false)

	runner := *executor
	if runner == "" {
		self, err := os.Executable()
		if err != nil {
			cmdutil.Exit(fmt.Errorf("could not determine current executable: %w", err))
		}
		runner = filepath.Join(filepath.Dir(self), execScript)
		if _, err := os.Stat(runner); err != nil {
			cmdutil.Exit(fmt.Errorf("missing executor %s: %w", runner, err))
		}
	}

	host := &languageHost{exec: runner, tracing: *tracing}
	host.cancelCtx, host.cancel = context.WithCancel(context.Background())
	if args := flag.Args(); len(args) > 0 {
		host.engineAddress = args[0]
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cancelChannel := make(chan bool)
	go func() {
		<-ctx.Done()
		close(cancelChannel)
	}()
	if host.engineAddress != "" {
		// Exit when the engine goes away, as every plugin does.
		if err := rpcutil.Healthcheck(ctx, host.engineAddress, 5*time.Minute, stop); err != nil {
			cmdutil.Exit(fmt.Errorf("could not start health check host RPC server: %w", err))
		}
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancelChannel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start language host RPC server: %w", err))
	}
	fmt.Printf("%d\n", handle.Port) // the engine reads the port from our first line
	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host RPC stopped serving: %w", err))
	}
}

type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	exec          string
	tracing       string
	mu            sync.Mutex
	engineAddress string
	cancelCtx     context.Context
	cancel        context.CancelFunc
}

// options reads Pulumi.yaml's runtime.options the way the real host does.
func options(info *pulumirpc.ProgramInfo) (toolchain.PythonOptions, error) {
	opts := toolchain.PythonOptions{Root: info.GetRootDirectory(), ProgramDir: info.GetProgramDirectory()}
	raw := info.GetOptions().AsMap()
	if v, ok := raw["virtualenv"]; ok {
		s, ok := v.(string)
		if !ok {
			return opts, errors.New("virtualenv option must be a string")
		}
		opts.Virtualenv = s
	}
	if v, ok := raw["toolchain"]; ok {
		switch v {
		case "pip":
			opts.Toolchain = toolchain.Pip
		case "poetry":
			opts.Toolchain = toolchain.Poetry
		case "uv":
			opts.Toolchain = toolchain.Uv
		default:
			return opts, fmt.Errorf("unsupported toolchain option: %v", v)
		}
	}
	if v, ok := raw["typechecker"]; ok && v != "" {
		return opts, fmt.Errorf("typechecker %v: not supported by this test build of the language host", v)
	}
	return opts, nil
}

func resolve(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, toolchain.PythonOptions, error) {
	opts, err := options(info)
	if err != nil {
		return nil, opts, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	return tc, opts, err
}

func (h *languageHost) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	h.engineAddress = req.GetEngineAddress()
	h.mu.Unlock()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// pluginJSONScript prints {distribution name: path of its pulumi-plugin.json or ""} for the
// distributions named on its command line.
const pluginJSONScript = `import importlib.metadata, importlib.util, json, os, sys
found = {}
for name in sys.argv[1:]:
    found[name] = ""
    try:
        dist = importlib.metadata.distribution(name)
        spec = importlib.util.find_spec(dist.metadata["Name"].replace("-", "_"))
        for loc in (spec.submodule_search_locations or []) if spec else []:
            path = os.path.join(str(loc), "pulumi-plugin.json")
            if os.path.isfile(path):
                found[name] = path
                break
    except Exception:
        pass
print(json.dumps(found))`

// Distributions that carry no plugin although their name says pulumi-.
var noPlugin = map[string]bool{"pulumi-policy": true, "pulumi-esc-sdk": true}

// requiredPackages lists the resource plugins the installed Pulumi packages ask for: name and
// version from each package's pulumi-plugin.json, or from the distribution's name and version.
func (h *languageHost) requiredPackages(ctx context.Context, info *pulumirpc.ProgramInfo) ([]*pulumirpc.PackageDependency, error) {
	tc, _, err := resolve(info)
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}
	dists, err := tc.ListPackages(ctx, true)
	if err != nil {
		return nil, err
	}
	args := []string{"-c", pluginJSONScript}
	for _, d := range dists {
		args = append(args, d.Name)
	}
	paths := map[string]string{}
	if cmd, err := tc.Command(ctx, args...); err == nil {
		if out, err := cmd.Output(); err == nil {
			if err := json.Unmarshal(out, &paths); err != nil {
				return nil, fmt.Errorf("reading pulumi-plugin.json locations: %w", err)
			}
		} else {
			logging.V(5).Infof("locating pulumi-plugin.json files failed: %v", err)
		}
	}
	var deps []*pulumirpc.PackageDependency
	for _, d := range dists {
		if noPlugin[d.Name] {
			continue
		}
		var meta *plugin.PulumiPluginJSON
		if p := paths[d.Name]; p != "" {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			meta = &plugin.PulumiPluginJSON{}
			if err := json.Unmarshal(data, meta); err != nil {
				return nil, fmt.Errorf("parsing %s: %w", p, err)
			}
		}
		if meta == nil && !strings.HasPrefix(d.Name, "pulumi-") {
			continue // not a Pulumi package
		}
		dep := &pulumirpc.PackageDependency{Kind: "resource"}
		if meta != nil {
			if !meta.Resource {
				continue // the package says it has no plugin
			}
			dep.Name, dep.Version, dep.Server = meta.Name, meta.Version, meta.Server
			if p := meta.Parameterization; p != nil {
				dep.Parameterization = &pulumirpc.PackageParameterization{Name: p.Name, Version: p.Version, Value: p.Value}
			}
		}
		if dep.Name == "" {
			dep.Name = strings.TrimPrefix(d.Name, "pulumi-")
		}
		if dep.Version == "" {
			v, ok := pep440ToSemver(d.Version)
			if !ok {
				logging.V(5).Infof("no plugin version for %s %s", d.Name, d.Version)
				continue
			}
			dep.Version = v
		}
		if !strings.HasPrefix(dep.Version, "v") {
			dep.Version = "v" + dep.Version
		}
		deps = append(deps, dep)
	}
	return deps, nil
}

var pep440 = regexp.MustCompile(`^(\d+(?:\.\d+)*)(?:(a|b|rc)(\d+))?(?:\.post(\d+))?(?:\.dev(\d+))?$`)

// pep440ToSemver turns 1.2 into 1.2.0, 1.2.3rc4 into 1.2.3-rc.4, 1.2.3.post4.dev5 into
// 1.2.3+post4dev5; anything else (epochs, local versions) has no plugin version.
func pep440ToSemver(v string) (string, bool) {
	m := pep440.FindStringSubmatch(v)
	if m == nil {
		return "", false
	}
	segs := strings.Split(m[1], ".")
	for len(segs) < 3 {
		segs = append(segs, "0")
	}
	out := strings.Join(segs, ".")
	if m[2] != "" {
		out += "-" + map[string]string{"a": "alpha", "b": "beta", "rc": "rc"}[m[2]] + "." + m[3]
	}
	build := ""
	if m[4] != "" {
		build += "post" + m[4]
	}
	if m[5] != "" {
		build += "dev" + m[5]
	}
	if build != "" {
		out += "+" + build
	}
	return out, true
}

func (h *languageHost) GetRequiredPackages(ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	deps, err := h.requiredPackages(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: deps}, nil
}

func (h *languageHost) GetRequiredPlugins(ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	deps, err := h.requiredPackages(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	var plugins []*pulumirpc.PluginDependency
	for _, d := range deps {
		if d.Parameterization == nil {
			plugins = append(plugins, &pulumirpc.PluginDependency{Name: d.Name, Version: d.Version, Kind: d.Kind, Server: d.Server})
		}
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

// Run executes the program: the exec script under the virtualenv's python, with the monitor and
// engine addresses, the project, stack and flags on its command line and the config in its env.
func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	if req.GetAttachDebugger() {
		return nil, status.Error(codes.Unimplemented, "debugging is not supported by this test build of the language host")
	}
	tc, _, err := resolve(req.GetInfo())
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}
	h.mu.Lock()
	engine := h.engineAddress
	h.mu.Unlock()

	args := []string{h.exec}
	flagArg := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	flagArg("monitor", req.GetMonitorAddress())
	flagArg("engine", engine)
	flagArg("project", req.GetProject())
	flagArg("root_directory", req.GetInfo().GetRootDirectory())
	flagArg("stack", req.GetStack())
	flagArg("pwd", req.GetPwd())
	flagArg("dry_run", strconv.FormatBool(req.GetDryRun()))
	flagArg("parallel", strconv.Itoa(int(req.GetParallel())))
	flagArg("tracing", h.tracing)
	flagArg("organization", req.GetOrganization())
	args = append(args, req.GetInfo().GetEntryPoint())
	args = append(args, req.GetArgs()...)

	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("failed to serialize configuration: %w", err)
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("failed to serialize configuration secret keys: %w", err)
	}

	// Stop the program when the engine cancels (Cancel) or the request ends.
	runCtx, stopRun := context.WithCancel(h.cancelCtx)
	defer stopRun()
	context.AfterFunc(ctx, stopRun)
	cmd, err := tc.Command(runCtx, args...)
	if err != nil {
		return nil, err
	}
	cmd.Cancel = func() error {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	if req.GetConfig() != nil {
		env = append(env, configEnv+"="+string(config))
	}
	cmd.Env = append(env, configSecretKeysEnv+"="+string(secretKeysJSON))
	logging.V(5).Infof("language host launching: %s", strings.Join(args, " "))

	if err := cmd.Run(); err != nil {
		_ = os.Stdout.Sync()
		_ = os.Stderr.Sync()
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.ExitStatus() == exitUserActionable {
				return &pulumirpc.RunResponse{Bail: true}, nil
			} else if ok && ws.ExitStatus() != 0 {
				return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with non-zero exit code: %d", ws.ExitStatus())}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited unexpectedly: %v", exitErr)}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("problem executing program (could not run language executor): %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// InstallDependencies installs requirements.txt into the virtualenv through the toolchain (creating
// the virtualenv if it is missing), as the real host does for programs.
func (h *languageHost) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	if req.GetIsPlugin() {
		return status.Error(codes.Unimplemented, "plugins written in Python are not supported by this test build of the language host")
	}
	tc, _, err := resolve(req.GetInfo())
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.GetIsTerminal())
	if err != nil {
		return err
	}
	defer closer.Close()
	fmt.Fprint(stdout, "Installing dependencies...\n\n")
	if err := tc.InstallDependencies(server.Context(), req.GetInfo().GetProgramDirectory(),
		req.GetUseLanguageVersionTools(), true, stdout, stderr); err != nil {
		return err
	}
	fmt.Fprint(stdout, "Finished installing dependencies\n\n")
	return closer.Close()
}

func (h *languageHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	opts := toolchain.PythonOptions{Toolchain: toolchain.Pip}
	if req.GetInfo() != nil {
		var err error
		if opts, err = options(req.GetInfo()); err != nil {
			return nil, err
		}
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: info.PythonExecutable,
		Version:    info.PythonVersion.String(),
		Metadata: map[string]string{
			"toolchain":        toolchain.Name(opts.Toolchain),
			"toolchainVersion": info.ToolchainVersion.String(),
			"typechecker":      toolchain.TypeCheckerName(opts.Typechecker),
		},
	}, nil
}

func (h *languageHost) GetProgramDependencies(ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, _, err := resolve(req.GetInfo())
	if err != nil {
		return nil, err
	}
	pkgs, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, fmt.Errorf("failed to get python dependencies: %w", err)
	}
	deps := make([]*pulumirpc.DependencyInfo, len(pkgs))
	for i, p := range pkgs {
		deps[i] = &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version}
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

// RuntimeOptionsPrompts asks `pulumi new` for a toolchain, and for pip a virtualenv (default venv).
func (h *languageHost) RuntimeOptionsPrompts(_ context.Context, req *pulumirpc.RuntimeOptionsRequest) (*pulumirpc.RuntimeOptionsResponse, error) {
	raw := req.GetInfo().GetOptions().AsMap()
	str := func(s string) *pulumirpc.RuntimeOptionPrompt_RuntimeOptionValue {
		return &pulumirpc.RuntimeOptionPrompt_RuntimeOptionValue{PromptType: pulumirpc.RuntimeOptionPrompt_STRING, StringValue: s, DisplayName: s}
	}
	var prompts []*pulumirpc.RuntimeOptionPrompt
	tcName, hasToolchain := raw["toolchain"]
	if !hasToolchain {
		choices := append([]*pulumirpc.RuntimeOptionPrompt_RuntimeOptionValue{str("pip")},
			plugin.MakeExecutablePromptChoices("poetry", "uv")...)
		prompts = append(prompts, &pulumirpc.RuntimeOptionPrompt{
			Key: "toolchain", Description: "The toolchain to use for installing dependencies and running the program",
			PromptType: pulumirpc.RuntimeOptionPrompt_STRING, Choices: choices, Default: str("pip"),
		})
	} else if _, hasVenv := raw["virtualenv"]; tcName == "pip" && !hasVenv {
		prompts = append(prompts, &pulumirpc.RuntimeOptionPrompt{
			Key: "virtualenv", Description: "The virtualenv to use", PromptType: pulumirpc.RuntimeOptionPrompt_STRING,
			Choices: []*pulumirpc.RuntimeOptionPrompt_RuntimeOptionValue{str("venv")}, Default: str("venv"),
		})
	}
	return &pulumirpc.RuntimeOptionsResponse{Prompts: prompts}, nil
}

func (h *languageHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.cancel()
	return &emptypb.Empty{}, nil
}
