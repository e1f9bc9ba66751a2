// Command pulumi-resource-tls-standin is a TEST STAND-IN for the pulumi-tls 5.6.2 resource plugin,
// installed only into the engine tests' PULUMI_HOME (scripts/toolchain.sh) because the real
// provider module is not served by the Go module proxy here. Users run the released pulumi-tls.
//
// It implements tls:index/privateKey:PrivateKey (RSA, ECDSA P224/P256/P384/P521, ED25519),
// tls:index/selfSignedCert:SelfSignedCert, tls:index/certRequest:CertRequest and
// tls:index/locallySignedCert:LocallySignedCert with the real property names, defaults and
// encodings (PKCS#1/SEC 1/PKCS#8 PEM, OpenSSH keys and fingerprints), real keys and certificates
// from crypto/rand, every input forcing a replacement as in the upstream Terraform provider, and
// the private keys returned as secrets.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"contest-k8s/tools/internal/standin"
)

var keyUsages = map[string]x509.KeyUsage{
	"digital_signature": x509.KeyUsageDigitalSignature, "content_commitment": x509.KeyUsageContentCommitment,
	"key_encipherment": x509.KeyUsageKeyEncipherment, "data_encipherment": x509.KeyUsageDataEncipherment,
	"key_agreement": x509.KeyUsageKeyAgreement, "cert_signing": x509.KeyUsageCertSign,
	"crl_signing": x509.KeyUsageCRLSign, "encipher_only": x509.KeyUsageEncipherOnly,
	"decipher_only": x509.KeyUsageDecipherOnly,
}

var extKeyUsages = map[string]x509.ExtKeyUsage{
	"any_extended": x509.ExtKeyUsageAny, "server_auth": x509.ExtKeyUsageServerAuth,
	"client_auth": x509.ExtKeyUsageClientAuth, "code_signing": x509.ExtKeyUsageCodeSigning,
	"email_protection": x509.ExtKeyUsageEmailProtection, "ipsec_end_system": x509.ExtKeyUsageIPSECEndSystem,
	"ipsec_tunnel": x509.ExtKeyUsageIPSECTunnel, "ipsec_user": x509.ExtKeyUsageIPSECUser,
	"timestamping": x509.ExtKeyUsageTimeStamping, "ocsp_signing": x509.ExtKeyUsageOCSPSigning,
	"microsoft_server_gated_crypto":     x509.ExtKeyUsageMicrosoftServerGatedCrypto,
	"netscape_server_gated_crypto":      x509.ExtKeyUsageNetscapeServerGatedCrypto,
	"microsoft_commercial_code_signing": x509.ExtKeyUsageMicrosoftCommercialCodeSigning,
	"microsoft_kernel_code_signing":     x509.ExtKeyUsageMicrosoftKernelCodeSigning,
}

var curves = map[string]elliptic.Curve{
	"P224": elliptic.P224(), "P256": elliptic.P256(), "P384": elliptic.P384(), "P521": elliptic.P521(),
}

func main() {
	zero, no := standin.Number(0), standin.Bool(false)
	certOutputs := []string{"certPem", "readyForRenewal", "validityEndTime", "validityStartTime"}
	standin.Main(standin.Provider{
		Name:    "tls",
		Version: "5.6.2",
		Resources: map[string]*standin.Resource{
			"tls:index/privateKey:PrivateKey": {
				Inputs:   []string{"algorithm", "ecdsaCurve", "rsaBits"},
				Required: []string{"algorithm"},
				Defaults: map[string]resource.PropertyValue{"ecdsaCurve": standin.String("P224"), "rsaBits": standin.Number(2048)},
				Computed: []string{"privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8", "publicKeyFingerprintMd5",
					"publicKeyFingerprintSha256", "publicKeyOpenssh", "publicKeyPem"},
				Secret:   []string{"privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8"},
				Validate: validatePrivateKey,
				Create:   createPrivateKey,
			},
			"tls:index/selfSignedCert:SelfSignedCert": {
				Inputs: []string{"allowedUses", "dnsNames", "earlyRenewalHours", "ipAddresses", "isCaCertificate",
					"maxPathLength", "privateKeyPem", "privateKeyPemWo", "privateKeyPemWoVersion", "setAuthorityKeyId",
					"setSubjectKeyId", "subject", "uris", "validityPeriodHours"},
				Required: []string{"allowedUses", "validityPeriodHours"},
				Defaults: map[string]resource.PropertyValue{"earlyRenewalHours": zero, "isCaCertificate": no,
					"maxPathLength": zero, "setAuthorityKeyId": no, "setSubjectKeyId": no},
				Computed: append([]string{"keyAlgorithm"}, certOutputs...),
				Validate: validateUses,
				Create: func(_ string, in standin.Props) (string, map[string]resource.PropertyValue, error) {
					key, alg, err := parseKey(firstOf(in, "privateKeyPem", "privateKeyPemWo"))
					if err != nil {
						return "", nil, fmt.Errorf("privateKeyPem: %w", err)
					}
					tmpl, err := template(in, subject(in.Obj("subject")))
					if err != nil {
						return "", nil, err
					}
					tmpl.DNSNames, tmpl.IPAddresses, tmpl.URIs, err = names(in)
					if err != nil {
						return "", nil, err
					}
					if in.Bool("setAuthorityKeyId") {
						tmpl.AuthorityKeyId = keyID(key.Public())
					}
					if in.Bool("setSubjectKeyId") {
						tmpl.SubjectKeyId = keyID(key.Public())
					}
					id, outs, err := sign(tmpl, tmpl, key.Public(), key)
					if err != nil {
						return "", nil, err
					}
					outs["keyAlgorithm"] = standin.String(alg)
					return id, outs, nil
				},
			},
			"tls:index/certRequest:CertRequest": {
				Inputs: []string{"dnsNames", "ipAddresses", "privateKeyPem", "privateKeyPemWo",
					"privateKeyPemWoVersion", "subject", "uris"},
				Computed: []string{"certRequestPem", "keyAlgorithm"},
				Create: func(_ string, in standin.Props) (string, map[string]resource.PropertyValue, error) {
					key, alg, err := parseKey(firstOf(in, "privateKeyPem", "privateKeyPemWo"))
					if err != nil {
						return "", nil, fmt.Errorf("privateKeyPem: %w", err)
					}
					req := &x509.CertificateRequest{Subject: subject(in.Obj("subject"))}
					req.DNSNames, req.IPAddresses, req.URIs, err = names(in)
					if err != nil {
						return "", nil, err
					}
					der, err := x509.CreateCertificateRequest(rand.Reader, req, key)
					if err != nil {
						return "", nil, err
					}
					p := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
					return hashForState(p), map[string]resource.PropertyValue{
						"certRequestPem": standin.String(p), "keyAlgorithm": standin.String(alg),
					}, nil
				},
			},
			"tls:index/locallySignedCert:LocallySignedCert": {
				Inputs: []string{"allowedUses", "caCertPem", "caPrivateKeyPem", "caPrivateKeyPemWo",
					"caPrivateKeyPemWoVersion", "certRequestPem", "earlyRenewalHours", "isCaCertificate",
					"maxPathLength", "setSubjectKeyId", "validityPeriodHours"},
				Required: []string{"allowedUses", "caCertPem", "certRequestPem", "validityPeriodHours"},
				Defaults: map[string]resource.PropertyValue{"earlyRenewalHours": zero, "isCaCertificate": no,
					"maxPathLength": zero, "setSubjectKeyId": no},
				Computed: append([]string{"caKeyAlgorithm"}, certOutputs...),
				Validate: validateUses,
				Create: func(_ string, in standin.Props) (string, map[string]resource.PropertyValue, error) {
					caKey, alg, err := parseKey(firstOf(in, "caPrivateKeyPem", "caPrivateKeyPemWo"))
					if err != nil {
						return "", nil, fmt.Errorf("caPrivateKeyPem: %w", err)
					}
					caCert, err := parseCert(in.Str("caCertPem"))
					if err != nil {
						return "", nil, fmt.Errorf("caCertPem: %w", err)
					}
					block, _ := pem.Decode([]byte(in.Str("certRequestPem")))
					if block == nil {
						return "", nil, errors.New("certRequestPem: no PEM block")
					}
					csr, err := x509.ParseCertificateRequest(block.Bytes)
					if err != nil {
						return "", nil, fmt.Errorf("certRequestPem: %w", err)
					}
					if err := csr.CheckSignature(); err != nil {
						return "", nil, fmt.Errorf("certRequestPem: %w", err)
					}
					tmpl, err := template(in, csr.Subject)
					if err != nil {
						return "", nil, err
					}
					tmpl.DNSNames, tmpl.IPAddresses, tmpl.URIs = csr.DNSNames, csr.IPAddresses, csr.URIs
					if in.Bool("setSubjectKeyId") {
						tmpl.SubjectKeyId = keyID(csr.PublicKey)
					}
					id, outs, err := sign(tmpl, caCert, csr.PublicKey, caKey)
					if err != nil {
						return "", nil, err
					}
					outs["caKeyAlgorithm"] = standin.String(alg)
					return id, outs, nil
				},
			},
		},
	})
}

func firstOf(in standin.Props, keys ...string) string {
	for _, k := range keys {
		if in.Has(k) {
			return in.Str(k)
		}
	}
	return ""
}

func validatePrivateKey(in standin.Props) map[string]string {
	switch in.Str("algorithm") {
	case "RSA", "ED25519":
	case "ECDSA":
		if _, ok := curves[in.Str("ecdsaCurve")]; !ok {
			return map[string]string{"ecdsaCurve": fmt.Sprintf("unsupported ECDSA curve %q (P224, P256, P384, P521)", in.Str("ecdsaCurve"))}
		}
	default:
		return map[string]string{"algorithm": fmt.Sprintf("unsupported algorithm %q (RSA, ECDSA, ED25519)", in.Str("algorithm"))}
	}
	return nil
}

func validateUses(in standin.Props) map[string]string {
	for _, u := range in.Strs("allowedUses") {
		_, ku := keyUsages[u]
		_, eku := extKeyUsages[u]
		if !ku && !eku {
			return map[string]string{"allowedUses": fmt.Sprintf("unknown key usage %q", u)}
		}
	}
	return nil
}

func createPrivateKey(_ string, in standin.Props) (string, map[string]resource.PropertyValue, error) {
	var key crypto.Signer
	var legacy *pem.Block
	var err error
	switch in.Str("algorithm") {
	case "RSA":
		var k *rsa.PrivateKey
		if k, err = rsa.GenerateKey(rand.Reader, in.Int("rsaBits")); err == nil {
			key, legacy = k, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
		}
	case "ECDSA":
		var k *ecdsa.PrivateKey
		if k, err = ecdsa.GenerateKey(curves[in.Str("ecdsaCurve")], rand.Reader); err == nil {
			var der []byte
			if der, err = x509.MarshalECPrivateKey(k); err == nil {
				key, legacy = k, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
			}
		}
	case "ED25519":
		var k ed25519.PrivateKey
		if _, k, err = ed25519.GenerateKey(rand.Reader); err == nil {
			key = k
		}
	}
	if err != nil {
		return "", nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", nil, err
	}
	pkcs8PEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	privPEM := pkcs8PEM // ED25519 has no older form: its private_key_pem is PKCS#8, as upstream
	if legacy != nil {
		privPEM = string(pem.EncodeToMemory(legacy))
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return "", nil, err
	}
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	outs := map[string]resource.PropertyValue{
		"privateKeyPem": standin.String(privPEM), "privateKeyPemPkcs8": standin.String(pkcs8PEM),
		"publicKeyPem": standin.String(pubPEM),
		// OpenSSH has no P224: upstream leaves the OpenSSH forms and fingerprints empty then.
		"privateKeyOpenssh": standin.String(""), "publicKeyOpenssh": standin.String(""),
		"publicKeyFingerprintMd5": standin.String(""), "publicKeyFingerprintSha256": standin.String(""),
	}
	if sshPub, err := ssh.NewPublicKey(key.Public()); err == nil {
		outs["publicKeyOpenssh"] = standin.String(string(ssh.MarshalAuthorizedKey(sshPub)))
		outs["publicKeyFingerprintMd5"] = standin.String(ssh.FingerprintLegacyMD5(sshPub))
		outs["publicKeyFingerprintSha256"] = standin.String(ssh.FingerprintSHA256(sshPub))
		if blk, err := ssh.MarshalPrivateKey(key, ""); err == nil {
			outs["privateKeyOpenssh"] = standin.String(string(pem.EncodeToMemory(blk)))
		}
	}
	return hashForState(pubPEM), outs, nil
}

func hashForState(s string) string {
	sum := sha1.Sum([]byte(strings.TrimSpace(s)))
	return hex.EncodeToString(sum[:])
}

func parseKey(text string) (crypto.Signer, string, error) {
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, "", errors.New("no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, "", fmt.Errorf("unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return nil, "", err
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, "RSA", nil
	case *ecdsa.PrivateKey:
		return k, "ECDSA", nil
	case ed25519.PrivateKey:
		return k, "ED25519", nil
	}
	return nil, "", fmt.Errorf("unsupported key type %T", key)
}

func parseCert(text string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(text))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no CERTIFICATE PEM block")
	}
	return x509.ParseCertificate(block.Bytes)
}

func subject(s standin.Props) pkix.Name {
	one := func(k string) []string {
		if v := s.Str(k); v != "" {
			return []string{v}
		}
		return nil
	}
	return pkix.Name{
		CommonName: s.Str("commonName"), SerialNumber: s.Str("serialNumber"),
		Organization: one("organization"), OrganizationalUnit: one("organizationalUnit"),
		Country: one("country"), Province: one("province"), Locality: one("locality"),
		PostalCode: one("postalCode"), StreetAddress: s.Strs("streetAddresses"),
	}
}

func names(in standin.Props) ([]string, []net.IP, []*url.URL, error) {
	var ips []net.IP
	for _, s := range in.Strs("ipAddresses") {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, nil, nil, fmt.Errorf("ipAddresses: invalid IP address %q", s)
		}
		ips = append(ips, ip)
	}
	var uris []*url.URL
	for _, s := range in.Strs("uris") {
		u, err := url.Parse(s)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("uris: %w", err)
		}
		uris = append(uris, u)
	}
	return in.Strs("dnsNames"), ips, uris, nil
}

func template(in standin.Props, name pkix.Name) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	t := &x509.Certificate{
		SerialNumber: serial, Subject: name,
		NotBefore: now, NotAfter: now.Add(time.Duration(in.Int("validityPeriodHours")) * time.Hour),
		BasicConstraintsValid: true,
	}
	for _, u := range in.Strs("allowedUses") {
		if ku, ok := keyUsages[u]; ok {
			t.KeyUsage |= ku
		} else {
			t.ExtKeyUsage = append(t.ExtKeyUsage, extKeyUsages[u])
		}
	}
	if in.Bool("isCaCertificate") {
		t.IsCA = true
		if n := in.Int("maxPathLength"); n > 0 {
			t.MaxPathLen = n
		}
	}
	return t, nil
}

func keyID(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	sum := sha1.Sum(der)
	return sum[:]
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (string, map[string]resource.PropertyValue, error) {
	if tmpl.SubjectKeyId == nil && tmpl.IsCA {
		tmpl.SubjectKeyId = keyID(pub)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return "", nil, err
	}
	return tmpl.SerialNumber.String(), map[string]resource.PropertyValue{
		"certPem":           standin.String(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))),
		"readyForRenewal":   standin.Bool(false),
		"validityStartTime": standin.String(tmpl.NotBefore.Format(time.RFC3339)),
		"validityEndTime":   standin.String(tmpl.NotAfter.Format(time.RFC3339)),
	}, nil
}
