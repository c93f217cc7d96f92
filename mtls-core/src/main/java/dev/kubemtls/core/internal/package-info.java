/**
 * Implementation details of kube-mtls core: not API, may change in any release. Holds the checks
 * that material passes before it is published (key/certificate match, chain to a trust bundle,
 * CA-only bundles).
 */
package dev.kubemtls.core.internal;
