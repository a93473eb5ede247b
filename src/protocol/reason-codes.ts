// MQTT 5 reason codes the broker sends (MQTT 5.0 section 2.4), and what an MQTT 3.1/3.1.1
// client gets instead where its protocol has an equivalent.

export const ReasonCode = {
  success: 0x00,
  grantedQoS1: 0x01,
  grantedQoS2: 0x02,
  disconnectWithWill: 0x04,
  continueAuthentication: 0x18,
  reauthenticate: 0x19,
  noMatchingSubscribers: 0x10,
  noSubscriptionExisted: 0x11,
  unspecifiedError: 0x80,
  malformedPacket: 0x81,
  protocolError: 0x82,
  implementationSpecificError: 0x83,
  unsupportedProtocolVersion: 0x84,
  clientIdentifierNotValid: 0x85,
  badUserNameOrPassword: 0x86,
  notAuthorized: 0x87,
  serverUnavailable: 0x88,
  serverBusy: 0x89,
  banned: 0x8a,
  serverShuttingDown: 0x8b,
  badAuthenticationMethod: 0x8c,
  keepAliveTimeout: 0x8d,
  sessionTakenOver: 0x8e,
  topicFilterInvalid: 0x8f,
  topicNameInvalid: 0x90,
  packetIdentifierNotFound: 0x92,
  receiveMaximumExceeded: 0x93,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95,
  quotaExceeded: 0x97,
  administrativeAction: 0x98,
  payloadFormatInvalid: 0x99,
  sharedSubscriptionsNotSupported: 0x9e
} as const

export type ReasonCodeValue = typeof ReasonCode[keyof typeof ReasonCode]

/** MQTT 3.1.1 CONNACK return codes (section 3.2.2.3). */
const CONNACK_V3: Partial<Record<number, number>> = {
  [ReasonCode.unsupportedProtocolVersion]: 1,
  [ReasonCode.clientIdentifierNotValid]: 2,
  [ReasonCode.serverUnavailable]: 3,
  [ReasonCode.serverBusy]: 3,
  [ReasonCode.badUserNameOrPassword]: 4,
  [ReasonCode.notAuthorized]: 5,
  [ReasonCode.banned]: 5,
  [ReasonCode.badAuthenticationMethod]: 5
}

/** The CONNACK code for this protocol version: the reason code itself on MQTT 5. */
export function connackCode (reason: number, protocolVersion: number): number {
  if (protocolVersion === 5 || reason === ReasonCode.success) return reason
  return CONNACK_V3[reason] ?? 3
}

/** MQTT 3.1.1 CONNACK return codes as MQTT 5 reason codes (the hooks speak 3.1.1's). */
const CONNACK_V5: Partial<Record<number, number>> = {
  1: ReasonCode.unsupportedProtocolVersion,
  2: ReasonCode.clientIdentifierNotValid,
  3: ReasonCode.serverUnavailable,
  4: ReasonCode.badUserNameOrPassword,
  5: ReasonCode.notAuthorized
}

export function reasonFromReturnCode (returnCode: number | undefined): number {
  return CONNACK_V5[returnCode ?? 5] ?? ReasonCode.notAuthorized
}

/** A SUBACK entry: the granted QoS, or a refusal (MQTT 3.1.1 knows only 0x80). */
export function subackCode (reason: number, protocolVersion: number): number {
  if (reason < 0x80 || protocolVersion === 5) return reason
  return 0x80
}
