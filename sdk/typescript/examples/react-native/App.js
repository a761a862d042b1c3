// The wiring of @tanis/client in a React Native app (not run in CI): polyfilled randomness, the platform's
// WebSocket, the platform keystore for the SDK's secrets and AsyncStorage for the rest, pause/resume on the app's
// lifecycle, and a minimal chat.
// npx expo install expo-secure-store   (in a bare React Native app: install `expo` first, docs.expo.dev)
// npm install @tanis/client react-native-get-random-values @react-native-async-storage/async-storage
// npm install @react-native-firebase/app @react-native-firebase/messaging   (pushes: FCM)

import 'react-native-get-random-values'; // first: crypto.getRandomValues for keys, nonces and franking keys
import AsyncStorage from '@react-native-async-storage/async-storage';
import { Client, TanisError } from '@tanis/client';
import messaging from '@react-native-firebase/messaging';
import * as SecureStore from 'expo-secure-store';
import React, { useEffect, useState } from 'react';
import { AppState, Button, FlatList, Text, TextInput, View } from 'react-native';

// The secrets (the token pair, private keys) in the platform keystore: the iOS Keychain, and on Android values
// encrypted under an Android Keystore key. AFTER_FIRST_UNLOCK: a push may wake the app while the phone is locked
// and the SDK must still read its tokens; THIS_DEVICE_ONLY: never carried to another device by a backup. On
// Android, expo-secure-store's config plugin (on by default, `configureAndroidBackup`) excludes its values from
// Auto Backup (`android:fullBackupContent` / `android:dataExtractionRules`); Keystore keys are never backed up
// anyway, so a restored copy could not be read. Without the plugin (a bare app), add those rules yourself, or set
// `android:allowBackup="false"`. Keys must be letters, digits, `.`, `-`, `_`: the SDK's (`tanis.tokens`,
// `tanis.find`, ...) are, with the default storagePrefix.
const keystore = { keychainAccessible: SecureStore.AFTER_FIRST_UNLOCK_THIS_DEVICE_ONLY };
const secrets = {
  get: (key) => SecureStore.getItemAsync(key, keystore),
  set: (key, value) => SecureStore.setItemAsync(key, value, keystore),
  delete: (key) => SecureStore.deleteItemAsync(key, keystore),
};

// Everything else (conversations: transcripts, counters, outboxes) in AsyncStorage. It is in Android's Auto
// Backup unless excluded: an app that does not want transcripts in a cloud backup excludes its database
// (`<exclude domain="database" path="RKStorage"/>`) in the same rules.
const storage = {
  get: (key) => AsyncStorage.getItem(key),
  set: (key, value) => AsyncStorage.setItem(key, value),
  delete: (key) => AsyncStorage.removeItem(key),
};

// One client per app process, outside any screen: a push handled in the background (no screen mounted) uses it.
// A secret an older version of the app kept in AsyncStorage is moved to the keystore when first read.
const client = new Client({ baseUrl: 'https://api.tanis.example', WebSocket, storage, secrets });

// A push woke the app (tanis pushes say who wrote, never what): reconnect and catch up while the OS shows it.
messaging().setBackgroundMessageHandler((remoteMessage) => client.handlePush(remoteMessage));

export default function App() {
  const [state, setState] = useState('disconnected');
  const [signedIn, setSignedIn] = useState(false);
  const [conversation, setConversation] = useState(null);
  const [messages, setMessages] = useState([]);
  const [notice, setNotice] = useState('');

  useEffect(() => {
    const offs = [
      client.on('state', ({ state }) => setState(state)),
      client.on('matched', ({ conversation }) => {
        setConversation(conversation);
        setMessages([...conversation.messages]);
      }),
      client.on('message', () => client.current && setMessages([...client.current.messages])),
      client.on('sent', () => client.current && setMessages([...client.current.messages])),
      client.on('delivered', () => client.current && setMessages([...client.current.messages])),
      client.on('undecryptable', () => setNotice('A message could not be verified and is hidden.')),
      client.on('ended', ({ reason }) => setNotice(`The chat ended (${reason}).`)),
      client.on('safetyNumberChanged', ({ safetyNumber }) => setNotice(`Safety number changed: ${safetyNumber}`)),
      client.on('takenOver', () => setNotice('Another of your devices took this conversation over.')),
      client.on('reauthenticate', () => setSignedIn(false)),
      client.on('banned', () => setNotice('This account is banned.')),
      // In the foreground FCM shows nothing: say who wrote, unless it is the chat on screen.
      messaging().onMessage(async (remoteMessage) => {
        const shown = await client.handlePush(remoteMessage, { waitMs: 0 });
        if (shown?.kind === 'notification' || (shown?.kind === 'message' && shown.matchId !== client.current?.id)) setNotice(shown.body ?? '');
      }),
    ];
    client.start().then(setSignedIn);
    // Background: close the socket cleanly; foreground: reconnect, resume every conversation, re-send the outbox.
    const lifecycle = AppState.addEventListener('change', (s) => (s === 'active' ? client.resume() : client.pause()));
    return () => {
      offs.forEach((off) => off());
      lifecycle.remove();
      client.pause();
    };
  }, []);

  if (!signedIn) return <SignIn onSignIn={async (phone, password) => setSignedIn(Boolean(await client.login(phone, password)))} />;
  return (
    <View style={{ flex: 1, padding: 24 }}>
      <Text>{state}{conversation ? ` · ${conversation.record.peer}` : ''}</Text>
      {conversation?.safetyNumber ? <Text selectable>Safety number: {conversation.safetyNumber}</Text> : null}
      {notice ? <Text>{notice}</Text> : null}
      <FlatList
        data={messages}
        keyExtractor={(m) => m.key}
        renderItem={({ item }) => (
          <Text style={{ alignSelf: item.mine ? 'flex-end' : 'flex-start' }}>
            {item.text ?? '(could not be decrypted)'} {item.mine ? `· ${item.status}` : ''}
          </Text>
        )}
      />
      <Composer onSend={(text) => client.send(text).catch((e) => setNotice(e.message))} onTyping={() => client.typing()} />
      <Button title="Find someone" onPress={() => client.findMatch({ kind: 'text', interests: 'prefer' }).catch(showError(setNotice))} />
      <Button title="Next" onPress={() => client.next().catch(showError(setNotice))} />
      <Button title="Keep in touch" onPress={() => client.proposeContact().catch(showError(setNotice))} />
      <Button title="Report" onPress={() => client.report(conversation.id, 'harassment').then((n) => setNotice(`Reported with ${n} messages.`))} />
      <Button title="Block" onPress={() => client.block().catch(showError(setNotice))} />
    </View>
  );
}

const showError = (set) => (e) => set(e instanceof TanisError ? `${e.code}: ${e.message}` : String(e));

function Composer({ onSend, onTyping }) {
  const [text, setText] = useState('');
  return (
    <TextInput
      value={text}
      placeholder="Message"
      onChangeText={(t) => {
        setText(t);
        onTyping();
      }}
      onSubmitEditing={() => {
        onSend(text);
        setText('');
      }}
    />
  );
}

function SignIn({ onSignIn }) {
  const [phone, setPhone] = useState('');
  const [password, setPassword] = useState('');
  return (
    <View style={{ padding: 24 }}>
      <TextInput placeholder="+90 5xx xxx xx xx" value={phone} onChangeText={setPhone} keyboardType="phone-pad" />
      <TextInput placeholder="Password" value={password} onChangeText={setPassword} secureTextEntry />
      <Button title="Sign in" onPress={() => onSignIn(phone, password)} />
    </View>
  );
}
