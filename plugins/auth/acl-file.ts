// Mosquitto's acl_file syntax, parsed into rules:
//   topic [read|write|readwrite|deny] FILTER   before any `user` line: anonymous clients;
//                                               after `user NAME`: that user
//   user NAME                                   starts NAME's block (the rest of the line)
//   pattern [read|write|readwrite|deny] FILTER  everyone, with %u / %c substituted
// As in Mosquitto, with one word after `topic` the word is the filter (readwrite); with
// more, the first is the access and the rest of the line is the filter.
import { FileProblem } from './file-problem.js'
import { validFilter } from './topics.js'

export type Access = 'read' | 'write' | 'readwrite' | 'deny'

export interface AclRule {
  access: Access
  filter: string
  /** 1-based line in the ACL file, for logs. */
  line: number
}

export interface AclFile {
  /** `topic` lines before the first `user` line. */
  anonymous: AclRule[]
  users: Map<string, AclRule[]>
  /** `pattern` lines; the filter still holds %u / %c. */
  patterns: AclRule[]
}

const ACCESS = new Set<string>(['read', 'write', 'readwrite', 'deny'])

/** Parses the text of an ACL file; throws FileProblem naming file:line and what is wrong. */
export function parseAclFile (text: string, file: string): AclFile {
  const acl: AclFile = { anonymous: [], users: new Map(), patterns: [] }
  let current: AclRule[] = acl.anonymous
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1
    const line = lines[i].trim()
    if (line === '' || line.startsWith('#')) continue
    const space = line.search(/\s/)
    const keyword = space === -1 ? line : line.slice(0, space)
    const rest = space === -1 ? '' : line.slice(space).trim()
    switch (keyword) {
      case 'user': {
        if (rest === '') throw new FileProblem(file, lineNo, '"user" needs a user name, e.g. "user alice"')
        let block = acl.users.get(rest)
        if (!block) acl.users.set(rest, block = [])
        current = block
        break
      }
      case 'topic':
      case 'pattern': {
        const rule = parseRule(keyword, rest, file, lineNo)
        if (keyword === 'topic') current.push(rule)
        else acl.patterns.push(rule)
        break
      }
      default:
        throw new FileProblem(file, lineNo, `unknown keyword "${keyword.slice(0, 40)}"; expected topic, user or pattern`)
    }
  }
  return acl
}

function parseRule (keyword: string, rest: string, file: string, line: number): AclRule {
  if (rest === '') throw new FileProblem(file, line, `"${keyword}" needs a topic filter, e.g. "${keyword} read sensors/#"`)
  const space = rest.search(/\s/)
  let access: Access = 'readwrite'
  let filter = rest
  if (space !== -1) {
    const word = rest.slice(0, space)
    if (!ACCESS.has(word)) {
      throw new FileProblem(file, line, `invalid access "${word.slice(0, 40)}"; expected read, write, readwrite or deny before the filter`)
    }
    access = word as Access
    filter = rest.slice(space).trim()
  } else if (ACCESS.has(rest)) {
    // Mosquitto would read "topic read" as readwrite on a topic named "read": surely a mistake.
    throw new FileProblem(file, line, `"${keyword} ${rest}" has no topic filter`)
  }
  if (!validFilter(filter)) {
    throw new FileProblem(file, line, `invalid topic filter "${filter.slice(0, 80)}"; # may only be the last level and + a whole level`)
  }
  return { access, filter, line }
}
