"""The contest-k8s Pulumi program: config -> plan -> render -> layers."""
