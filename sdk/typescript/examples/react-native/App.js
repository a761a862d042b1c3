// The wiring of @tanis/client in a React Native app (not run in CI): polyfilled randomness, the platform's
// WebSocket, AsyncStorage as the SDK's storage, pause/resume on the app's lifecycle, and a minimal chat.
// npm install @tanis/client react-native-get-random-values @react-native-async-storage/async-storage

import 'react-native-get-random-values'; // first: crypto.getRandomValues for keys, nonces and franking keys
import AsyncStorage from '@react-native-async-storage/async-storage';
import { Client, TanisError } from '@tanis/client';
import React, { useEffect, useMemo, useState } from 'react';
import { AppState, Button, FlatList, Text, TextInput, View } from 'react-native';

const storage = {
  get: (key) => AsyncStorage.getItem(key),
  set: (key, value) => AsyncStorage.setItem(key, value),
  delete: (key) => AsyncStorage.removeItem(key),
};

export default function App() {
  const client = useMemo(() => new Client({ baseUrl: 'https://api.tanis.example', WebSocket, storage }), []);
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
    ];
    client.start().then(setSignedIn);
    // Background: close the socket cleanly; foreground: reconnect, resume every conversation, re-send the outbox.
    const lifecycle = AppState.addEventListener('change', (s) => (s === 'active' ? client.resume() : client.pause()));
    return () => {
      offs.forEach((off) => off());
      lifecycle.remove();
      client.close();
    };
  }, [client]);

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
