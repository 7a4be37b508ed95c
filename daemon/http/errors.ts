/**
 * Errors of the HTTP adapter itself (daemon/http): what goes wrong before a request reaches the
 * request parsers (daemon/api/validate.ts) or the engine — a body that is not JSON, too large, of
 * the wrong media type, a path that is no route — and the webhook's rule that it alone acks.
 * status-codes.ts maps every code to a gRPC status, and HTTP statuses derive from that (with the
 * few HTTP-only statuses, 413/415/404, overriding it there). Messages never echo a body or a token.
 */
import { CodedError } from '../../core/errors.ts';

export type HttpErrorCode =
  /** The request body is not valid JSON (or empty where a body is required). */
  | 'MalformedJson'
  /** Anything else the HTTP layer cannot read: a bad URL, a bad Content-Length. */
  | 'MalformedRequest'
  /** The request body is larger than the HTTP body limit (413). */
  | 'BodyTooLarge'
  /** A body that is not `application/json` (415). */
  | 'UnsupportedMediaType'
  /** No route for this method and path (404). */
  | 'RouteNotFound'
  /** With a webhook configured the webhook acks messages; API clients may not (webhook-backend.ts). */
  | 'AckOwnedByWebhook'
  /** A download's Range starts at or past the end of the file (416). */
  | 'RangeNotSatisfiable';

export class HttpError extends CodedError<HttpErrorCode> {}
