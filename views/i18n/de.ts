import { tasksDe } from './tasks.de.js';
import { outboxDe } from './outbox.de.js';
import { settingsDe } from './settings.de.js';
import { activityTypesDe } from './activity-types.de.js';
import { mappingsDe } from './mappings.de.js';
import { staffDe } from './staff.de.js';

/**
 * German messages of the admin (the default language). The type of this object is the catalogue's
 * shape: en.ts must have every key (a missing or extra key fails `tsc`).
 */
export const de = {
  tasksPages: tasksDe,
  settingsPages: settingsDe,
  outboxPages: outboxDe,
  staffPages: staffDe,
  activityTypePages: activityTypesDe,
  mappingPages: mappingsDe,
  appName: 'Posteingang',
  skipToContent: 'Zum Inhalt springen',
  language: 'Sprache',
  languageName: 'Deutsch',
  nav: {
    label: 'Hauptnavigation',
    dashboard: 'Übersicht',
    tasks: 'Vorgänge',
    myTasks: 'Meine Vorgänge',
    staff: 'Mitarbeiter*innen',
    mappings: 'E-Mail-Adressen verwalten',
    activityTypes: 'Tätigkeiten',
    settings: 'Einstellungen',
  },
  loggedInAs: (name: string) => `Angemeldet als ${name}`,
  logout: 'Abmelden',
  comingSoon: 'Diese Seite kommt bald.',
  login: {
    title: 'Anmelden',
    login: 'Anmeldename',
    password: 'Passwort',
    submit: 'Anmelden',
    failed: 'Anmeldename oder Passwort ist falsch.',
    throttled: (seconds: number) => {
      const wait = seconds < 120 ? `${seconds} ${seconds === 1 ? 'Sekunde' : 'Sekunden'}` : `${Math.ceil(seconds / 60)} Minuten`;
      return `Zu viele fehlgeschlagene Anmeldeversuche. Bitte warten Sie ${wait} und versuchen Sie es dann erneut.`;
    },
    noAdminYet: 'Es gibt noch keine Administratorin und keinen Administrator.',
    firstRunLink: 'Ersteinrichtung öffnen',
    loggedOut: 'Sie wurden abgemeldet.',
    expired: 'Ihre Sitzung ist abgelaufen oder wurde beendet. Bitte melden Sie sich erneut an; die letzte Aktion wurde nicht ausgeführt.',
  },
  firstRun: {
    title: 'Ersteinrichtung',
    intro: 'Legen Sie die erste Administratorin oder den ersten Administrator an. Den Einmal-Code finden Sie im Protokoll des Gateways (Zeile „first-run code“).',
    code: 'Einmal-Code aus dem Protokoll',
    name: 'Name (Nachname, Vorname)',
    email: 'E-Mail-Adresse',
    login: 'Anmeldename',
    password: 'Passwort (mindestens 10 Zeichen)',
    passwordRepeat: 'Passwort wiederholen',
    submit: 'Administrator*in anlegen',
    wrongCode: 'Der Einmal-Code stimmt nicht.',
    mismatch: 'Die Passwörter stimmen nicht überein.',
    done: 'Es gibt bereits eine Administratorin oder einen Administrator. Bitte melden Sie sich an.',
  },
  errors: {
    forbiddenTitle: 'Kein Zugriff',
    forbidden: 'Diese Seite ist der Administration vorbehalten.',
    notFoundTitle: 'Nicht gefunden',
    notFound: 'Diese Seite gibt es nicht.',
    csrf: 'Die Anfrage wurde abgelehnt (Sicherheitstoken fehlt oder ist ungültig). Bitte laden Sie die Seite neu.',
    invalidTitle: 'Ungültige Eingabe',
    invalid: (field: string, reason: string) => `Ungültige Eingabe (${field}): ${reason}`,
  },
  dashboard: {
    title: 'Übersicht',
    updated: (time: string) => `Stand: ${time} (aktualisiert sich selbst)`,
    channel: { general: 'Empfang Allgemein', scanner: 'Empfang per Scanner' },
    smtp: 'SMTP-Empfang',
    status: 'Zustand',
    smtpListening: (address: string) => `empfangsbereit auf ${address}`,
    smtpNotRunning: 'nicht gestartet',
    inboundAddresses: 'Empfangsadressen',
    noInboundAddress: 'keine Empfangsadresse eingerichtet – der SMTP-Empfang nimmt für diesen Kanal nichts an',
    messagesToday: 'Nachrichten heute',
    mailbox: 'Postfach',
    noMailbox: 'kein Postfach eingerichtet',
    mailboxDisabled: 'abgeschaltet',
    lastSuccess: 'Letzter erfolgreicher Abruf',
    never: 'noch nie',
    lastError: 'Letzter Fehler',
    noError: 'keiner',
    failuresInARow: 'Fehlschläge in Folge',
    stale: (minutes: number) => `Warnung: seit über ${minutes} Minuten (mehr als doppeltes Abrufintervall) kein erfolgreicher Abruf.`,
    interval: (minutes: number) => `alle ${minutes} Minuten`,
    tasks: 'Vorgänge',
    unassigned: 'Nicht zugeordnet',
    openTotal: 'Offen insgesamt',
    byActivity: 'Offene Vorgänge nach Tätigkeit',
    activity: 'Tätigkeit',
    count: 'Anzahl',
    noOpenTasks: 'Keine offenen Vorgänge.',
    queue: 'Eingangswarteschlange',
    queueDepth: 'Angenommen, noch nicht als Vorgang angelegt',
    queueOldest: (seconds: number) => `älteste seit ${seconds} s`,
    queueLatency: 'Zeit von der Annahme (250) bis zum Vorgang, 95 %',
    queueLatencyNone: 'noch keine Messung',
    queueRetrying: (n: number) => `Warnung: ${n} Nachricht(en) konnten nicht gespeichert werden und werden erneut versucht (siehe Protokoll).`,
  },
  myTasks: {
    title: 'Meine Vorgänge',
    intro: 'Hier erscheinen bald Ihre Vorgänge.',
  },
};

/** The shape every message catalogue has. */
export type Messages = typeof de;
