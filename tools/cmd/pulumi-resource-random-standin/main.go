// Command pulumi-resource-random-standin is a TEST STAND-IN for the pulumi-random 4.21.4 resource
// plugin, installed only into the engine tests' PULUMI_HOME (scripts/toolchain.sh) because the real
// provider module is not served by the Go module proxy here. Users run the released pulumi-random.
//
// It implements the types this program uses with the real type tokens, property names and defaults:
// random:index/randomBytes:RandomBytes, random:index/randomId:RandomId,
// random:index/randomString:RandomString and random:index/randomPassword:RandomPassword. As in the
// upstream Terraform provider every input (keepers included) forces a replacement, values come from
// crypto/rand, and the secret outputs (RandomPassword result and bcryptHash, RandomBytes base64 and
// hex) are returned as secrets.
package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"

	"golang.org/x/crypto/bcrypt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"contest-k8s/tools/internal/standin"
)

const defaultSpecial = "!@#$%&*()-_=+[]{}<>:?"

func main() {
	stringInputs := []string{"keepers", "length", "lower", "minLower", "minNumeric", "minSpecial", "minUpper",
		"number", "numeric", "overrideSpecial", "special", "upper"}
	stringDefaults := map[string]resource.PropertyValue{
		"lower": standin.Bool(true), "upper": standin.Bool(true), "number": standin.Bool(true),
		"numeric": standin.Bool(true), "special": standin.Bool(true),
		"minLower": standin.Number(0), "minUpper": standin.Number(0), "minNumeric": standin.Number(0),
		"minSpecial": standin.Number(0),
	}
	standin.Main(standin.Provider{
		Name:    "random",
		Version: "4.21.4",
		Resources: map[string]*standin.Resource{
			"random:index/randomBytes:RandomBytes": {
				Inputs:   []string{"keepers", "length"},
				Required: []string{"length"},
				Computed: []string{"base64", "hex"},
				Secret:   []string{"base64", "hex"},
				Validate: func(in standin.Props) map[string]string {
					if in.Has("length") && in.Int("length") < 1 {
						return map[string]string{"length": "length must be at least 1"}
					}
					return nil
				},
				Create: func(_ string, in standin.Props) (string, map[string]resource.PropertyValue, error) {
					b := make([]byte, in.Int("length"))
					if _, err := rand.Read(b); err != nil {
						return "", nil, err
					}
					return "none", map[string]resource.PropertyValue{
						"base64": standin.String(base64.StdEncoding.EncodeToString(b)),
						"hex":    standin.String(hex.EncodeToString(b)),
					}, nil
				},
			},
			"random:index/randomId:RandomId": {
				Inputs:   []string{"byteLength", "keepers", "prefix"},
				Required: []string{"byteLength"},
				Computed: []string{"b64Std", "b64Url", "dec", "hex"},
				Validate: func(in standin.Props) map[string]string {
					if in.Has("byteLength") && in.Int("byteLength") < 1 {
						return map[string]string{"byteLength": "byteLength must be at least 1"}
					}
					return nil
				},
				Create: func(_ string, in standin.Props) (string, map[string]resource.PropertyValue, error) {
					b := make([]byte, in.Int("byteLength"))
					if _, err := rand.Read(b); err != nil {
						return "", nil, err
					}
					prefix := in.Str("prefix")
					// The ID is the unprefixed URL-safe base64; every output carries the prefix.
					return base64.RawURLEncoding.EncodeToString(b), map[string]resource.PropertyValue{
						"b64Std": standin.String(prefix + base64.StdEncoding.EncodeToString(b)),
						"b64Url": standin.String(prefix + base64.RawURLEncoding.EncodeToString(b)),
						"dec":    standin.String(prefix + new(big.Int).SetBytes(b).String()),
						"hex":    standin.String(prefix + hex.EncodeToString(b)),
					}, nil
				},
			},
			"random:index/randomString:RandomString": {
				Inputs: stringInputs, Required: []string{"length"}, Defaults: stringDefaults,
				Computed: []string{"result"},
				Validate: validateString,
				Create: func(_ string, in standin.Props) (string, map[string]resource.PropertyValue, error) {
					s, err := randomString(in)
					if err != nil {
						return "", nil, err
					}
					return s, map[string]resource.PropertyValue{"result": standin.String(s)}, nil
				},
			},
			"random:index/randomPassword:RandomPassword": {
				Inputs: stringInputs, Required: []string{"length"}, Defaults: stringDefaults,
				Computed: []string{"result", "bcryptHash"},
				Secret:   []string{"result", "bcryptHash"},
				Validate: validateString,
				Create: func(_ string, in standin.Props) (string, map[string]resource.PropertyValue, error) {
					s, err := randomString(in)
					if err != nil {
						return "", nil, err
					}
					pw := []byte(s)
					if len(pw) > 72 { // bcrypt's limit; the real provider hashes the first 72 bytes too
						pw = pw[:72]
					}
					hash, err := bcrypt.GenerateFromPassword(pw, bcrypt.DefaultCost)
					if err != nil {
						return "", nil, err
					}
					return "none", map[string]resource.PropertyValue{
						"result": standin.String(s), "bcryptHash": standin.String(string(hash)),
					}, nil
				},
			},
		},
	})
}

func validateString(in standin.Props) map[string]string {
	length := in.Int("length")
	if length < 1 {
		return map[string]string{"length": "length must be at least 1"}
	}
	mins := in.Int("minLower") + in.Int("minUpper") + in.Int("minNumeric") + in.Int("minSpecial")
	if mins > length {
		return map[string]string{"length": fmt.Sprintf("length (%d) is less than the sum of the min_* values (%d)", length, mins)}
	}
	return nil
}

// randomString draws the required minimum of each class, fills up from every enabled class and
// shuffles, as the upstream provider does.
func randomString(in standin.Props) (string, error) {
	const lower, upper, numeric = "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789"
	special := defaultSpecial
	if in.Has("overrideSpecial") {
		special = in.Str("overrideSpecial")
	}
	classes := []struct {
		chars string
		on    bool
		min   int
	}{
		{lower, in.Bool("lower"), in.Int("minLower")},
		{upper, in.Bool("upper"), in.Int("minUpper")},
		{numeric, in.Bool("numeric") && in.Bool("number"), in.Int("minNumeric")},
		{special, in.Bool("special"), in.Int("minSpecial")},
	}
	var out []byte
	all := ""
	for _, c := range classes {
		if c.on {
			all += c.chars
		}
		for i := 0; i < c.min; i++ {
			ch, err := pick(c.chars)
			if err != nil {
				return "", err
			}
			out = append(out, ch)
		}
	}
	if all == "" && len(out) < in.Int("length") {
		return "", fmt.Errorf("no character class is enabled")
	}
	for len(out) < in.Int("length") {
		ch, err := pick(all)
		if err != nil {
			return "", err
		}
		out = append(out, ch)
	}
	for i := len(out) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
}

func pick(chars string) (byte, error) {
	if chars == "" {
		return 0, fmt.Errorf("empty character class with a minimum count")
	}
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
	if err != nil {
		return 0, err
	}
	return chars[n.Int64()], nil
}
