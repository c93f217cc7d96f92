/**
 * Implementation details of kube-mtls core (CSR encoding, signer-name rules, validation of issued
 * certificates). Not API: may change in any release without notice.
 */
package dev.kubemtls.core.internal;
