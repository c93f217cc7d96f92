/**
 * kube-mtls for Spring Boot 4: add {@code mtls-spring-boot}, set {@code kube-mtls.signer-name},
 * {@code kube-mtls.services} and {@code server.ssl.bundle=kube-mtls}.
 *
 * <p>The workload's identity is a {@code MaterialSource} bean ({@code KubeMtls} in a pod, or one
 * the application defines). The SSL bundle {@code kube-mtls} holds its current certificate and
 * trust bundle and is updated on each renewal: Tomcat and Reactor Netty servers reload it, a Jetty
 * server gets a connector that follows the identity, and Spring's HTTP clients built from the
 * bundle ({@code RestClientSsl}, {@code WebClientSsl}, {@code HttpClientSettings.ofSslBundle})
 * present the current certificate on each new connection, because the bundle's key and trust
 * managers read the current snapshot in every handshake. Callers are checked per request
 * ({@code kube-mtls.peer.*}); {@link dev.kubemtls.spring.KubeMtlsHealthIndicator} and
 * {@code mtls-micrometer} report on the identity.
 */
package dev.kubemtls.spring;
