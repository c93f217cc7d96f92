/**
 * Implementation details of kube-mtls core: not API, may change in any release, and exported (by
 * the module descriptor) only to kube-mtls' own integrations. The checks material passes before it
 * is published (key/certificate match, chain to a trust bundle, CA-only bundles), and the handshake
 * reporting shared by the TLS integrations (classifying handshake failures, guarding listeners).
 */
package dev.kubemtls.core.internal;
