// Package standin is the shared plumbing of the engine-test stand-in providers
// (cmd/pulumi-resource-{random,tls,command}-standin).
//
// TEST STAND-INS ONLY. The real providers (pulumi-random 4.21.4, pulumi-tls 5.6.2,
// pulumi-command 1.2.1) are not served by the Go module proxy this project can reach, so the
// engine tests install these programs under the real plugin names and versions instead. They
// speak the same gRPC protocol with the same type tokens, property names, defaults and
// replace/update semantics as the real providers, as far as this program uses them. Users
// always run the released providers: nothing outside tests/ ever installs a stand-in.
package standin

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Resource describes one resource type of a stand-in provider.
type Resource struct {
	// Inputs lists every input property (schema names). Only these are compared by Diff.
	Inputs []string
	// Required inputs: Check fails when one is missing.
	Required []string
	// Defaults are filled in by Check for inputs that are absent or null, as the real schema does.
	Defaults map[string]resource.PropertyValue
	// Computed lists the output-only properties: unknown in a preview, set by Create.
	Computed []string
	// Secret lists computed outputs the real provider returns as secrets.
	Secret []string
	// UpdateInPlace reports whether a change of the input key is an update (default: replace).
	UpdateInPlace func(key string) bool
	// Validate returns check failures (property, reason) for known inputs.
	Validate func(in Props) map[string]string
	// Create makes the resource from fully known, unwrapped inputs: its ID and computed outputs.
	Create func(name string, in Props) (string, map[string]resource.PropertyValue, error)
	// Update runs a non-preview in-place update (only for types with UpdateInPlace).
	// It returns the new computed outputs (nil keeps the old ones).
	Update func(id string, olds, news Props) (map[string]resource.PropertyValue, error)
	// PreviewUpdateUnknown lists computed outputs that become unknown in a preview of an update.
	PreviewUpdateUnknown []string
	// Delete runs before the resource leaves the state (nil: nothing to do).
	Delete func(id string, state Props) error
}

// Provider is a stand-in provider: a plugin name, the version it stands in for, and its types.
type Provider struct {
	Name      string
	Version   string
	Resources map[string]*Resource
}

// Main serves the provider over gRPC the way every Pulumi resource plugin does.
func Main(p Provider) {
	if len(os.Args) > 1 && os.Args[1] == "--version" {
		fmt.Println(p.Version)
		return
	}
	err := provider.Main(p.Name, func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return &server{p: p}, nil
	})
	if err != nil {
		cmdutil.ExitError(err.Error())
	}
}

type server struct {
	pulumirpc.UnimplementedResourceProviderServer
	p Provider
}

var marshalOpts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, SkipNulls: true}

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	return plugin.UnmarshalProperties(s, marshalOpts)
}

func marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, marshalOpts)
}

func (s *server) lookup(urn string) (*Resource, string, error) {
	tok := string(resource.URN(urn).Type())
	r, ok := s.p.Resources[tok]
	if !ok {
		return nil, tok, status.Errorf(codes.InvalidArgument, "%s stand-in: unknown resource type %q", s.p.Name, tok)
	}
	return r, tok, nil
}

func (s *server) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: s.p.Version}, nil
}

// GetSchema returns a minimal package schema naming the package, its version and its types.
func (s *server) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	resources := map[string]any{}
	for tok := range s.p.Resources {
		resources[tok] = map[string]any{"description": "test stand-in"}
	}
	b, err := json.Marshal(map[string]any{
		"name": s.p.Name, "version": s.p.Version,
		"description": "TEST STAND-IN for pulumi-" + s.p.Name + " " + s.p.Version,
		"resources":   resources,
	})
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetSchemaResponse{Schema: string(b)}, nil
}

func (s *server) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (s *server) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (s *server) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

func (s *server) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// Check fills in the schema defaults and reports missing or invalid inputs.
func (s *server) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	r, _, err := s.lookup(req.GetUrn())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	for k, v := range r.Defaults {
		if cur, ok := news[resource.PropertyKey(k)]; !ok || cur.IsNull() {
			news[resource.PropertyKey(k)] = v
		}
	}
	var failures []*pulumirpc.CheckFailure
	for _, k := range r.Required {
		if v, ok := news[resource.PropertyKey(k)]; !ok || v.IsNull() {
			failures = append(failures, &pulumirpc.CheckFailure{Property: k, Reason: fmt.Sprintf("Missing required property '%s'", k)})
		}
	}
	if r.Validate != nil && len(failures) == 0 {
		in := Props{plain(news)}
		reasons := r.Validate(in)
		keys := make([]string, 0, len(reasons))
		for k := range reasons {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			failures = append(failures, &pulumirpc.CheckFailure{Property: k, Reason: reasons[k]})
		}
	}
	out, err := marshal(news)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: out, Failures: failures}, nil
}

// Diff compares the declared inputs of the old state with the checked new inputs.
func (s *server) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	r, _, err := s.lookup(req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	ignored := map[string]bool{}
	for _, k := range req.GetIgnoreChanges() {
		ignored[k] = true
	}
	var diffs, replaces []string
	detailed := map[string]*pulumirpc.PropertyDiff{}
	for _, k := range r.Inputs {
		if ignored[k] {
			continue
		}
		o, hasOld := olds[resource.PropertyKey(k)]
		n, hasNew := news[resource.PropertyKey(k)]
		hasOld = hasOld && !o.IsNull()
		hasNew = hasNew && !n.IsNull()
		if !hasOld && !hasNew {
			continue
		}
		if hasOld && hasNew && !n.ContainsUnknowns() && unwrap(o).DeepEquals(unwrap(n)) {
			continue
		}
		replace := r.UpdateInPlace == nil || !r.UpdateInPlace(k)
		kind := pulumirpc.PropertyDiff_UPDATE
		switch {
		case !hasOld:
			kind = pulumirpc.PropertyDiff_ADD
		case !hasNew:
			kind = pulumirpc.PropertyDiff_DELETE
		}
		if replace {
			kind += 1 // ADD_REPLACE, DELETE_REPLACE, UPDATE_REPLACE follow their plain kinds
			replaces = append(replaces, k)
		}
		diffs = append(diffs, k)
		detailed[k] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	changes := pulumirpc.DiffResponse_DIFF_NONE
	if len(diffs) > 0 {
		changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return &pulumirpc.DiffResponse{
		Changes: changes, Diffs: diffs, Replaces: replaces,
		DetailedDiff: detailed, HasDetailedDiff: true,
	}, nil
}

// Create echoes the inputs as outputs and adds the computed ones (unknown in a preview).
func (s *server) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	r, tok, err := s.lookup(req.GetUrn())
	if err != nil {
		return nil, err
	}
	ins, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	outs := ins.Copy()
	id := ""
	if req.GetPreview() || ins.ContainsUnknowns() {
		for _, k := range r.Computed {
			outs[resource.PropertyKey(k)] = resource.MakeComputed(resource.NewStringProperty(""))
		}
	} else {
		name := string(resource.URN(req.GetUrn()).Name())
		var computed map[string]resource.PropertyValue
		id, computed, err = r.Create(name, Props{plain(ins)})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tok, err)
		}
		s.setComputed(r, outs, computed)
	}
	props, err := marshal(outs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

func (s *server) setComputed(r *Resource, outs resource.PropertyMap, computed map[string]resource.PropertyValue) {
	secret := map[string]bool{}
	for _, k := range r.Secret {
		secret[k] = true
	}
	for k, v := range computed {
		if secret[k] {
			v = resource.MakeSecret(v)
		}
		outs[resource.PropertyKey(k)] = v
	}
}

// Update is only reached for types whose inputs can change in place.
func (s *server) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	r, tok, err := s.lookup(req.GetUrn())
	if err != nil {
		return nil, err
	}
	if r.Update == nil {
		return nil, status.Errorf(codes.Internal, "%s stand-in: %s has no in-place update", s.p.Name, tok)
	}
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	outs := news.Copy()
	for _, k := range r.Computed { // keep the old computed outputs unless the update changes them
		if v, ok := olds[resource.PropertyKey(k)]; ok {
			outs[resource.PropertyKey(k)] = v
		}
	}
	if req.GetPreview() || news.ContainsUnknowns() {
		for _, k := range r.PreviewUpdateUnknown {
			outs[resource.PropertyKey(k)] = resource.MakeComputed(resource.NewStringProperty(""))
		}
	} else {
		computed, err := r.Update(req.GetId(), Props{plain(olds)}, Props{plain(news)})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tok, err)
		}
		s.setComputed(r, outs, computed)
	}
	props, err := marshal(outs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

// Read returns the stored state unchanged: nothing outside the state describes these resources.
func (s *server) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if _, _, err := s.lookup(req.GetUrn()); err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func (s *server) Delete(_ context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	r, tok, err := s.lookup(req.GetUrn())
	if err != nil {
		return nil, err
	}
	if r.Delete != nil {
		state, err := unmarshal(req.GetProperties())
		if err != nil {
			return nil, err
		}
		if err := r.Delete(req.GetId(), Props{plain(state)}); err != nil {
			return nil, fmt.Errorf("%s: %w", tok, err)
		}
	}
	return &emptypb.Empty{}, nil
}

// unwrap strips secret markers, recursively.
func unwrap(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return unwrap(v.SecretValue().Element)
	case v.IsArray():
		arr := make([]resource.PropertyValue, len(v.ArrayValue()))
		for i, e := range v.ArrayValue() {
			arr[i] = unwrap(e)
		}
		return resource.NewArrayProperty(arr)
	case v.IsObject():
		return resource.NewObjectProperty(plain(v.ObjectValue()))
	}
	return v
}

func plain(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for k, v := range m {
		out[k] = unwrap(v)
	}
	return out
}

// Props reads plain (unwrapped, known) input values by schema name.
type Props struct{ M resource.PropertyMap }

func (p Props) get(k string) (resource.PropertyValue, bool) {
	v, ok := p.M[resource.PropertyKey(k)]
	if !ok || v.IsNull() || v.IsComputed() {
		return resource.PropertyValue{}, false
	}
	return v, true
}

// Has reports whether the input is set (not null, not unknown).
func (p Props) Has(k string) bool { _, ok := p.get(k); return ok }

// Str returns a string input, or "".
func (p Props) Str(k string) string {
	if v, ok := p.get(k); ok && v.IsString() {
		return v.StringValue()
	}
	return ""
}

// Int returns a number input, or 0.
func (p Props) Int(k string) int {
	if v, ok := p.get(k); ok && v.IsNumber() {
		return int(v.NumberValue())
	}
	return 0
}

// Bool returns a boolean input, or false.
func (p Props) Bool(k string) bool {
	if v, ok := p.get(k); ok && v.IsBool() {
		return v.BoolValue()
	}
	return false
}

// Strs returns a list-of-strings input.
func (p Props) Strs(k string) []string {
	var out []string
	if v, ok := p.get(k); ok && v.IsArray() {
		for _, e := range v.ArrayValue() {
			if e.IsString() {
				out = append(out, e.StringValue())
			}
		}
	}
	return out
}

// Obj returns an object input (empty if absent).
func (p Props) Obj(k string) Props {
	if v, ok := p.get(k); ok && v.IsObject() {
		return Props{v.ObjectValue()}
	}
	return Props{resource.PropertyMap{}}
}

// String, Number and Bool build output values.
func String(s string) resource.PropertyValue  { return resource.NewStringProperty(s) }
func Number(n float64) resource.PropertyValue { return resource.NewNumberProperty(n) }
func Bool(b bool) resource.PropertyValue      { return resource.NewBoolProperty(b) }
