//! The tests of `phones::vault`, in a file of their own so that the module reads alone.

use super::*;

const ENCRYPTION: &[u8] = b"an encryption secret of at least 32 characters";
const INDEX: &[u8] = b"an index secret of at least 32 characters, too";

fn vault(encryption: &[u8], previous: Vec<&[u8]>, index: &[u8], previous_index: Option<&[u8]>) -> PhoneVault {
    PhoneVault::new(&PhoneSecrets { encryption, previous_encryption: previous, index, previous_index }).unwrap()
}

fn phone() -> Phone {
    Phone::parse("+905321234567").unwrap()
}

#[test]
fn a_sealed_phone_opens_to_itself_and_holds_no_digit_of_it() {
    let v = vault(ENCRYPTION, vec![], INDEX, None);
    let sealed = v.seal(&phone());
    assert_eq!(v.open(sealed.ciphertext()).unwrap(), phone());
    let text = String::from_utf8_lossy(sealed.ciphertext());
    assert!(!text.contains("5321234567") && !text.contains("1234567"), "{text:?}");
    assert_eq!(sealed.ciphertext().len(), HEADER_LEN + NONCE_LEN + "+905321234567".len() + TAG_LEN);
    assert_eq!(sealed_key_id(sealed.ciphertext()), Some(v.key_id()));
}

#[test]
fn sealing_twice_differs_but_the_index_is_the_same() {
    let v = vault(ENCRYPTION, vec![], INDEX, None);
    let (a, b) = (v.seal(&phone()), v.seal(&phone()));
    assert_ne!(a.ciphertext(), b.ciphertext(), "a fresh nonce each time");
    assert_eq!(a.index(), b.index());
    let other = Phone::parse("+905321234568").unwrap();
    assert_ne!(v.index(&other), *a.index());
}

#[test]
fn the_index_depends_on_the_index_key_only() {
    let a = vault(ENCRYPTION, vec![], INDEX, None);
    let b = vault(b"another encryption secret, 32 characters long", vec![], INDEX, None);
    let c = vault(ENCRYPTION, vec![], b"another index secret of 32 characters or more", None);
    assert_eq!(a.index(&phone()), b.index(&phone()));
    assert_ne!(a.index(&phone()), c.index(&phone()));
}

#[test]
fn a_key_that_is_not_configured_is_named_by_its_id() {
    let old = vault(ENCRYPTION, vec![], INDEX, None);
    let sealed = old.seal(&phone());
    let new = vault(b"the next encryption secret, 32 characters+", vec![], INDEX, None);
    assert_eq!(new.open(sealed.ciphertext()), Err(OpenError::UnknownKey(old.key_id())));
    let rotating = vault(b"the next encryption secret, 32 characters+", vec![ENCRYPTION], INDEX, None);
    assert_eq!(rotating.open(sealed.ciphertext()).unwrap(), phone());
    assert_ne!(sealed_key_id(rotating.seal(&phone()).ciphertext()), Some(old.key_id()), "new seals, new key");
}

#[test]
fn altered_bytes_do_not_open() {
    let v = vault(ENCRYPTION, vec![], INDEX, None);
    let sealed = v.seal(&phone()).ciphertext().to_vec();
    let mut flipped = sealed.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert_eq!(v.open(&flipped), Err(OpenError::Rejected(v.key_id())));
    let mut other_version = sealed.clone();
    other_version[0] = 2;
    assert_eq!(v.open(&other_version), Err(OpenError::Malformed));
    assert_eq!(v.open(&sealed[..20]), Err(OpenError::Malformed));
    assert_eq!(v.open(b"+905321234567"), Err(OpenError::Malformed), "plaintext is not a sealed phone");
}

#[test]
fn during_an_index_rotation_lookups_match_both_indexes() {
    let old = vault(ENCRYPTION, vec![], INDEX, None);
    let new_index: &[u8] = b"the next index secret, at least 32 characters";
    let rotating = vault(ENCRYPTION, vec![], new_index, Some(INDEX));
    let lookup = rotating.lookup(&phone());
    assert!(lookup.matches(&old.index(&phone())), "rows not yet rebuilt are found");
    assert!(lookup.matches(&rotating.index(&phone())));
    assert!(!rotating.is_current_index(&phone(), &old.index(&phone())));
    let plain = old.lookup(&phone());
    assert_eq!(plain.indexes()[0], plain.indexes()[1], "without a rotation both are the current index");
}

#[test]
fn the_same_secret_twice_is_refused() {
    let twice = PhoneVault::new(&PhoneSecrets {
        encryption: ENCRYPTION,
        previous_encryption: vec![ENCRYPTION],
        index: INDEX,
        previous_index: None,
    });
    assert!(matches!(twice, Err(KeyError::DuplicateKeyId(_))));
}

#[test]
fn a_code_matches_only_its_own_phone_and_index_key() {
    let v = vault(ENCRYPTION, vec![], INDEX, None);
    let index = v.index(&phone());
    let stored = v.code_hash(&index, "123456");
    assert!(v.code_matches(&index, "123456", &stored));
    assert!(!v.code_matches(&index, "123457", &stored));
    let other = v.index(&Phone::parse("+905321234568").unwrap());
    assert!(!v.code_matches(&other, "123456", &stored), "bound to the phone it was sent to");
    let rotated = vault(ENCRYPTION, vec![], b"the next index secret, at least 32 characters", Some(INDEX));
    assert!(!rotated.code_matches(&index, "123456", &stored), "a new index key ends earlier codes");
    let reencrypted = vault(b"another encryption secret, 32 characters long", vec![ENCRYPTION], INDEX, None);
    assert!(reencrypted.code_matches(&index, "123456", &stored), "the encryption key plays no part");
    assert!(!v.code_matches(&index, "123456", &stored[..31]));
}

#[test]
fn debug_output_names_key_ids_and_no_key() {
    let v = vault(ENCRYPTION, vec![], INDEX, None);
    let shown = format!("{v:?} {:?} {:?}", v.seal(&phone()).index(), v.lookup(&phone()));
    assert!(shown.contains(&v.key_id().to_string()), "{shown}");
    assert!(!shown.contains("secret") && !shown.contains("5321234567"), "{shown}");
}
