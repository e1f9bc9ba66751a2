module contest-k8s/tests/globmatch

go 1.22

require github.com/gobwas/glob v0.2.3
