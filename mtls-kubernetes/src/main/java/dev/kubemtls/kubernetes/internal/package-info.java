/**
 * Implementation details of the Kubernetes side: not API, may change in any release. The PKCS#10
 * encoding of a workload's request and the validation of the certificate a CSR's status carries.
 */
package dev.kubemtls.kubernetes.internal;
