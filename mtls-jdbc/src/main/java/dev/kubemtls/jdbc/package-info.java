/**
 * PostgreSQL over kube-mtls: a pgjdbc {@code sslfactory} ({@link dev.kubemtls.jdbc.MtlsPgSocketFactory})
 * whose connections present the workload's current certificate and check the server's, found through
 * a named {@link dev.kubemtls.jdbc.MtlsPostgres} registration; and
 * {@link dev.kubemtls.jdbc.HikariRetirement}, which retires pooled connections made under superseded
 * material. pgjdbc and HikariCP are optional dependencies: add them yourself.
 */
package dev.kubemtls.jdbc;
