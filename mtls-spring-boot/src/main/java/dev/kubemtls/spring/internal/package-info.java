/** Not API: the starter's key and trust managers, bundle registrar and server customizers. */
package dev.kubemtls.spring.internal;
