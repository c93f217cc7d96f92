/**
 * Implementation details of kube-mtls core: not API, may change in any release. CSR encoding,
 * signer-name rules, validation of issued certificates, and the checks material passes before it
 * is published (key/certificate match, chain to a trust bundle, CA-only bundles), and the handshake
 * reporting shared by the TLS integrations (classifying handshake failures, guarding listeners).
 */
package dev.kubemtls.core.internal;
