"""What kfkrm knows about Kubeflow, Istio and Kubernetes, shared by several functions:
image references, Istio references and API versions, pod metadata, the auth service."""
