//! The tests of `config`, in a file of their own so that the module reads alone.

use super::*;

#[test]
fn defaults_are_valid_and_listen_on_loopback() {
    let config = Config::default();
    config.validate().unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert!(config.effective_database_url().starts_with("sqlite://data"));
}

#[test]
fn a_bad_value_names_its_key() {
    let mut config = Config::default();
    config.auth.bcrypt_cost = 3;
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("auth.bcrypt_cost"), "{err}");
}

#[test]
fn production_refuses_a_generated_secret_and_default_passwords() {
    let mut config = Config { production: true, ..Config::default() };
    assert!(config.validate().unwrap_err().to_string().contains("auth.jwt_secret"));
    config.auth.jwt_secret = Some("x".repeat(40));
    assert!(config.validate().unwrap_err().to_string().contains("video.turn_secret"));
    config.video.turn_secret = Some("t".repeat(40));
    assert!(config.validate().unwrap_err().to_string().contains("phones.encryption_key"));
    config.phones.encryption_key = Some("e".repeat(40));
    assert!(config.validate().unwrap_err().to_string().contains("phones.index_key"));
    config.phones.index_key = Some("i".repeat(40));
    config.database_url = Some("postgres://tanis:postgres@db/tanis".into());
    assert!(config.validate().unwrap_err().to_string().contains("database_url"));
    config.database_url = Some("postgres://tanis:9f2c7e1a@db/tanis".into());
    assert!(config.validate().unwrap_err().to_string().contains("metrics_token"));
    config.metrics_token = Some("short".into());
    assert!(config.validate().unwrap_err().to_string().contains("metrics_token"), "too short to be a secret");
    config.metrics_token = Some("m".repeat(32));
    assert!(config.validate().unwrap_err().to_string().contains("sms.provider"));
    config.sms = sms_provider();
    assert!(config.validate().unwrap_err().to_string().contains("age_assurance.required_for"));
    config.age_assurance.waiver = Some("video is asked an assurance at the app's own gate".into());
    config.validate().unwrap();
}

/// A production configuration with only `secrets` of the node's set, on PostgreSQL and one Redis.
fn production_with(secrets: &[&str], redis_url: &str) -> Config {
    let mut config = Config {
        production: true,
        database_url: Some("postgres://tanis:9f2c7e1a@db/tanis".into()),
        redis_url: Some(redis_url.into()),
        ..Config::default()
    };
    for secret in secrets {
        match *secret {
            "jwt" => config.auth.jwt_secret = Some("x".repeat(40)),
            "turn" => config.video.turn_secret = Some("t".repeat(40)),
            "phones" => {
                config.phones.encryption_key = Some("e".repeat(40));
                config.phones.index_key = Some("i".repeat(40));
            }
            "metrics" => config.metrics_token = Some("m".repeat(40)),
            "sms" => {
                config.sms = sms_provider();
                // Not a secret, but production's last rule for a node.
                config.age_assurance.waiver = Some("video is asked an assurance at the app's own gate".into());
            }
            _ => unreachable!("{secret}"),
        }
    }
    config
}

#[test]
fn each_process_needs_only_its_own_secrets() {
    let redis = "rediss://:9f2c7e1a@redis:6380";
    let node = production_with(&["jwt", "turn", "phones", "metrics", "sms"], redis);
    node.validate_for(Process::Node).unwrap();
    let worker = production_with(&[], redis);
    worker.validate_for(Process::Worker).expect("the worker signs, relays, sends and reads nothing secret");
    let err = worker.validate_for(Process::Node).unwrap_err().to_string();
    assert!(err.contains("auth.jwt_secret"), "the same configuration is not a node's: {err}");
    let migration = production_with(&["phones"], "redis://redis:6379");
    migration.validate_for(Process::Migration).expect("the phone keys, and no Redis password: it never connects");
    let err = production_with(&[], redis).validate_for(Process::Migration).unwrap_err().to_string();
    assert!(err.contains("phones.encryption_key"), "the migration checks and seals with the phone keys: {err}");
    // Outside production, a node that may be shared still needs every shared secret; the worker none of them.
    let mut shared = production_with(&[], redis);
    shared.production = false;
    shared.validate_for(Process::Worker).unwrap();
    assert!(shared.validate_for(Process::Node).unwrap_err().to_string().contains("auth.jwt_secret"));
}

#[test]
fn production_refuses_a_redis_url_without_a_password_unless_allowed() {
    for url in [
        "redis://redis:6379",
        "rediss://redis:6380",
        "redis://tanis@redis:6379",
        "redis://:@redis:6379",
        "redis+cluster://a:7000,b:7001",
    ] {
        for process in [Process::Node, Process::Worker] {
            let mut config = production_with(&["jwt", "turn", "phones", "metrics", "sms"], url);
            let err = config.validate_for(process).unwrap_err().to_string();
            assert!(err.contains("redis_url") && err.contains("password"), "{url} {process:?}: {err}");
            config.redis_allow_unauthenticated = true;
            config.validate_for(process).unwrap();
        }
    }
    for url in [
        "rediss://:9f2c7e1a@redis:6380",
        "redis://tanis:9f2c7e1a@redis:6379",
        "rediss+cluster://:9f2c7e1a@a:7000,:9f2c7e1a@b:7001",
    ] {
        production_with(&["jwt", "turn", "phones", "metrics", "sms"], url).validate().unwrap();
    }
}

#[test]
fn a_node_that_may_join_a_cluster_refuses_every_generated_secret() {
    let shared = [
        Config { redis_url: Some("redis://127.0.0.1:6379".into()), ..Config::default() },
        Config { database_url: Some("postgres://tanis:9f2c7e1a@db/tanis".into()), ..Config::default() },
    ];
    for mut config in shared {
        assert!(config.may_be_shared());
        let mut refused = Vec::new();
        while let Err(err) = config.validate() {
            let err = err.to_string();
            assert!(err.contains("the same value (at least 32 characters) on every node"), "{err}");
            let key = ["auth.jwt_secret", "phones.encryption_key", "phones.index_key", "video.turn_secret"]
                .into_iter()
                .find(|key| err.contains(key))
                .unwrap_or_else(|| panic!("names one of the secrets: {err}"));
            refused.push(key);
            match key {
                "auth.jwt_secret" => config.auth.jwt_secret = Some("x".repeat(40)),
                "phones.encryption_key" => config.phones.encryption_key = Some("e".repeat(40)),
                "phones.index_key" => config.phones.index_key = Some("i".repeat(40)),
                _ => config.video.turn_secret = Some("t".repeat(40)),
            }
        }
        assert_eq!(refused.len(), 4, "each generated secret is refused: {refused:?}");
    }
    let alone = Config { database_url: Some("sqlite://data/tanis.db".into()), ..Config::default() };
    assert!(!alone.may_be_shared());
    alone.validate().expect("one machine's SQLite file keeps generating its secrets");
}

/// An HTTP SMS provider with every setting it needs.
fn sms_provider() -> SmsConfig {
    SmsConfig {
        provider: SmsProvider::Http,
        http_url: Some("https://api.twilio.com/2010-04-01/Accounts/AC0123/Messages.json".into()),
        account: Some("AC0123".into()),
        token: Some("a-provider-token".into()),
        from: Some("TANIS".into()),
        ..SmsConfig::default()
    }
}

#[test]
fn production_refuses_the_log_sender_and_an_incomplete_or_plain_http_provider() {
    let mut config = Config { production: true, ..Config::default() };
    config.auth.jwt_secret = Some("x".repeat(40));
    config.video.turn_secret = Some("t".repeat(40));
    config.phones.encryption_key = Some("e".repeat(40));
    config.phones.index_key = Some("i".repeat(40));
    config.metrics_token = Some("m".repeat(40));
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("sms.provider"), "{err}");
    for (key, unset) in [
        ("sms.http_url", (|s: &mut SmsConfig| s.http_url = None) as fn(&mut SmsConfig)),
        ("sms.account", |s| s.account = None),
        ("sms.token", |s| s.token = Some(" ".into())),
        ("sms.from", |s| s.from = None),
    ] {
        config.sms = sms_provider();
        unset(&mut config.sms);
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains(key), "{key}: {err}");
        config.production = false;
        assert!(config.validate().is_err(), "{key}: an http provider cannot send without it, in any mode");
        config.production = true;
    }
    config.sms = sms_provider();
    config.sms.http_url = Some("http://sms.example/send".into());
    assert!(config.validate().unwrap_err().to_string().contains("https"));
    config.production = false;
    config.validate().expect("plain http is for a local stand-in, outside production");
    config.sms.provider = SmsProvider::Log;
    config.validate().expect("the zero-setup server logs its codes");
}

#[test]
fn trusted_proxies_take_bare_addresses_and_networks_and_refuse_anything_else() {
    #[allow(clippy::result_large_err)] // figment's own test harness signature
    figment::Jail::expect_with(|jail| {
        jail.create_file("proxies.toml", "trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\"]\n")?;
        let config = Config::load(Some(Path::new("proxies.toml"))).unwrap();
        let shown: Vec<String> = config.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(shown, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
        jail.create_file("bad.toml", "trusted_proxies = [\"proxy.example\"]\n")?;
        let err = Config::load(Some(Path::new("bad.toml"))).unwrap_err().to_string();
        assert!(err.contains("neither an address nor a network"), "{err}");
        Ok(())
    });
}

#[test]
fn toml_file_and_environment_are_layered_and_typos_are_refused() {
    #[allow(clippy::result_large_err)] // figment's own test harness signature
    figment::Jail::expect_with(|jail| {
        jail.create_file("tanis.toml", "listen = \"127.0.0.1:9000\"\n[auth]\nbcrypt_cost = 10\n")?;
        jail.set_env("TANIS_AUTH__BCRYPT_COST", "11");
        let config = Config::load(Some(Path::new("tanis.toml"))).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.auth.bcrypt_cost, 11);

        jail.create_file("typo.toml", "[auth]\nbcrypt_kost = 10\n")?;
        let err = Config::load(Some(Path::new("typo.toml"))).unwrap_err().to_string();
        assert!(err.contains("bcrypt_kost"), "{err}");

        jail.set_env("TANIS_LISTEN", "not-an-address");
        let err = Config::load(None).unwrap_err().to_string();
        assert!(err.to_lowercase().contains("listen"), "{err}");
        Ok(())
    });
}

#[test]
fn production_refuses_a_bcrypt_cost_under_10() {
    let mut config = Config { production: true, ..Config::default() };
    config.auth.jwt_secret = Some("x".repeat(40));
    config.video.turn_secret = Some("t".repeat(40));
    config.phones.encryption_key = Some("e".repeat(40));
    config.phones.index_key = Some("i".repeat(40));
    config.metrics_token = Some("m".repeat(40));
    config.sms = sms_provider();
    config.age_assurance.waiver = Some("video is asked an assurance at the app's own gate".into());
    config.auth.bcrypt_cost = 9;
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("auth.bcrypt_cost"), "{err}");
    config.auth.bcrypt_cost = 10;
    config.validate().unwrap();
    // Outside production a low cost is fine (tests use 4).
    config.production = false;
    config.auth.bcrypt_cost = 4;
    config.validate().unwrap();
}

#[test]
fn the_runtime_leaves_sqlites_threads_a_core_and_takes_what_it_is_given() {
    let sqlite = Config::default();
    assert_eq!([1, 2, 8].map(|cores| sqlite.runtime_workers(cores)), [1, 1, 7]);
    let file = Config { database_url: Some("sqlite:///srv/tanis.db".into()), ..Config::default() };
    assert_eq!(file.runtime_workers(4), 3);
    // The group commit and its connections are tasks of the runtime on PostgreSQL.
    let postgres = Config { database_url: Some("postgres://db/tanis".into()), ..Config::default() };
    assert_eq!([1, 2, 8].map(|cores| postgres.runtime_workers(cores)), [1, 2, 8]);
    let chosen = Config { worker_threads: 3, ..Config::default() };
    assert_eq!([1, 2].map(|cores| chosen.runtime_workers(cores)), [3, 3]);
}

#[test]
fn worker_threads_comes_from_the_environment_like_every_setting() {
    #[allow(clippy::result_large_err)] // figment's own test harness signature
    figment::Jail::expect_with(|jail| {
        jail.set_env("TANIS_WORKER_THREADS", "3");
        assert_eq!(Config::load(None).unwrap().worker_threads, 3);
        Ok(())
    });
}
