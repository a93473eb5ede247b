// The publish form: topic, payload, QoS, retain. What the page sends goes to the log too.
import { topicError } from './topics.js'

export function createPublishForm (form, { client, onPublished }) {
  const message = form.querySelector('.form-message')
  const say = (text, isError = false) => {
    message.textContent = text
    message.classList.toggle('error', isError)
  }

  form.addEventListener('submit', event => {
    event.preventDefault()
    const topic = form.elements.topic.value.trim()
    const payload = form.elements.payload.value
    const qos = Number(form.elements.qos.value)
    const retain = form.elements.retain.checked
    const problem = topicError(topic)
    if (problem) return say(problem, true)
    const c = client()
    if (!c || !c.connected) return say('Not connected: connect first.', true)
    say(`Publishing to ${topic}…`)
    c.publish(topic, payload, { qos, retain }, err => {
      if (err) return say(`Publishing to ${topic} failed: ${err.message}`, true)
      const acked = qos === 0 ? 'sent (QoS 0: no acknowledgement)' : `acknowledged by the broker (QoS ${qos})`
      say(`${topic}: ${acked}${retain ? ', retained' : ''}.`)
      onPublished({ topic, text: payload, qos, retain, time: Date.now(), direction: 'out' })
    })
  })

  /** Pre-fills the topic (e.g. a device's command topic). */
  function setTopic (topic) {
    form.elements.topic.value = topic
  }

  return { setTopic }
}
