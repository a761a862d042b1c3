// The console's words in Turkish and English. The language is the browser's unless the moderator picks the other
// one (kept in localStorage); a missing word shows its key, which a test would see.

const WORDS = {
  en: {
    title: 'tanış console',
    phone: 'Phone number',
    password: 'Password',
    signIn: 'Sign in',
    signOut: 'Sign out',
    notStaff: 'This account is not a moderator or an admin: the console is for staff.',
    signInFailed: 'Signing in failed',
    reports: 'Reports',
    statements: 'Statements of reasons',
    noReports: 'No open reports.',
    reporters: 'distinct reporters',
    withEvidence: 'with verified evidence',
    banned: 'banned',
    review: 'up for review',
    reportedBy: 'reported by',
    reason: 'reason',
    theirWords: 'their words',
    bareClaim: 'No evidence: a bare claim.',
    verified: 'verified: sent exactly this, in that match, at that time',
    previously: 'reopened; previously',
    characters: 'characters',
    bytes: 'bytes',
    invisibleCount: 'invisible',
    from: 'From',
    to: 'To',
    export: 'Export',
    exported: 'statements in the range',
    download: 'Download (NDJSON)',
    language: 'Türkçe',
    decision: 'Decision',
    dismiss: 'Dismiss',
    actionIt: 'Action',
    decide: 'Decide',
    note: 'Note (moderators only)',
    ban: 'Ban',
    banReason: 'Reason code',
    banHours: 'Hours (empty: until lifted)',
    clearCounts: 'Clear report count',
  },
  tr: {
    title: 'tanış konsolu',
    phone: 'Telefon numarası',
    password: 'Parola',
    signIn: 'Giriş yap',
    signOut: 'Çıkış yap',
    notStaff: 'Bu hesap moderatör ya da yönetici değil: konsol ekip içindir.',
    signInFailed: 'Giriş yapılamadı',
    reports: 'Şikâyetler',
    statements: 'Gerekçe bildirimleri',
    noReports: 'Açık şikâyet yok.',
    reporters: 'ayrı şikâyetçi',
    withEvidence: 'doğrulanmış kanıtlı',
    banned: 'yasaklı',
    review: 'incelemede',
    reportedBy: 'şikâyet eden',
    reason: 'neden',
    theirWords: 'açıklaması',
    bareClaim: 'Kanıt yok: yalnızca iddia.',
    verified: 'doğrulandı: tam olarak bu metin, o eşleşmede, o anda gönderildi',
    previously: 'yeniden açıldı; önceki karar',
    characters: 'karakter',
    bytes: 'bayt',
    invisibleCount: 'görünmez',
    from: 'Başlangıç',
    to: 'Bitiş',
    export: 'Dışa aktar',
    exported: 'bildirim bu aralıkta',
    download: 'İndir (NDJSON)',
    language: 'English',
    decision: 'Karar',
    dismiss: 'Reddet',
    actionIt: 'İşlem yap',
    decide: 'Karar ver',
    note: 'Not (yalnızca moderatörler)',
    ban: 'Yasakla',
    banReason: 'Neden kodu',
    banHours: 'Saat (boş: kaldırılana dek)',
    clearCounts: 'Şikâyet sayısını sıfırla',
  },
};

const KEY = 'tanis.console.language';

export function language() {
  const chosen = localStorage.getItem(KEY);
  if (chosen === 'tr' || chosen === 'en') return chosen;
  return navigator.language?.toLowerCase().startsWith('tr') ? 'tr' : 'en';
}

export function toggleLanguage() {
  localStorage.setItem(KEY, language() === 'tr' ? 'en' : 'tr');
}

export function t(key) {
  return WORDS[language()][key] ?? key;
}
