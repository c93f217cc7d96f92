/** Implementation of {@code dev.kubemtls.servlet}; not an API, may change in any release. */
package dev.kubemtls.servlet.internal;
