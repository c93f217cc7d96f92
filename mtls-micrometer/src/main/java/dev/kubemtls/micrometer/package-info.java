/**
 * kube-mtls on a Micrometer {@code MeterRegistry}: {@link dev.kubemtls.micrometer.MtlsMetrics}
 * turns what the certificate manager and the TLS integrations report into meters, and reads the
 * current snapshot into gauges, so a dashboard shows which certificate expires when and an alert
 * can fire on failed renewals or handshakes. Depends on {@code mtls-core} only; any source and any
 * integration can be measured.
 */
package dev.kubemtls.micrometer;
