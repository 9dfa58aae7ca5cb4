//! `warmgate inject`: adds warmgate to Kubernetes workloads in multi-document YAML.
