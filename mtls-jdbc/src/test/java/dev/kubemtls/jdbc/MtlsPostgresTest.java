package dev.kubemtls.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.tls.MtlsJdkTls;
import java.util.Properties;
import org.junit.jupiter.api.Test;

/** The registry pgjdbc's factory finds its client in: names, duplicates, lookups by property. */
class MtlsPostgresTest {

  @Test
  void aRegistrationGivesTheConnectionPropertiesAndIsFoundByThem() {
    try (MtlsJdkTls tls = MtlsJdkTls.forClient(new MaterialPublisher()).build();
        MtlsPostgres.Registration r = MtlsPostgres.register("orders-db", tls)) {
      Properties p = r.connectionProperties();
      assertThat(p).containsEntry("sslmode", "verify-full").containsEntry("ssl", "true")
          .containsEntry("sslfactory", MtlsPgSocketFactory.class.getName())
          .containsEntry(MtlsPostgres.SOURCE_PROPERTY, "orders-db");
      assertThat(r.urlParameters()).isEqualTo("ssl=true&sslmode=verify-full&sslfactory="
          + MtlsPgSocketFactory.class.getName() + "&kubemtlsSource=orders-db");
      assertThat(MtlsPostgres.require(p)).isSameAs(r);
      Properties legacy = new Properties();
      legacy.setProperty("sslfactoryarg", "orders-db");
      assertThat(MtlsPostgres.require(legacy)).isSameAs(r);
      assertThat(new MtlsPgSocketFactory(p).getDefaultCipherSuites()).isNotEmpty();
    }
    assertThat(MtlsPostgres.lookup("orders-db")).isEmpty();
  }

  @Test
  void aNameIsRegisteredOnce() {
    try (MtlsJdkTls tls = MtlsJdkTls.forClient(new MaterialPublisher()).build();
        MtlsPostgres.Registration r = MtlsPostgres.register("once", tls)) {
      assertThatThrownBy(() -> MtlsPostgres.register("once", tls))
          .isInstanceOf(IllegalStateException.class).hasMessageContaining("registered already");
    }
  }

  @Test
  void namesThatCannotTravelInAUrlAreRefused() {
    try (MtlsJdkTls tls = MtlsJdkTls.forClient(new MaterialPublisher()).build()) {
      for (String bad : new String[] {"", "a&b", "a=b", "-x", "a b", "x".repeat(64)}) {
        assertThatThrownBy(() -> MtlsPostgres.register(bad, tls)).as(bad)
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1-63 letters");
      }
    }
  }

  @Test
  void aConnectionWithoutOrWithAnUnknownSourceFailsSayingWhatToDo() {
    assertThatThrownBy(() -> new MtlsPgSocketFactory(new Properties()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("kubemtlsSource=<name>");
    Properties p = new Properties();
    p.setProperty(MtlsPostgres.SOURCE_PROPERTY, "nobody");
    assertThatThrownBy(() -> new MtlsPgSocketFactory(p))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("no PostgreSQL source is registered as 'nobody'");
  }
}
