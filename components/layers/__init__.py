"""The layers of the cluster that live on Kubernetes itself (design.md: add-ons, then monitoring and GitOps)."""
