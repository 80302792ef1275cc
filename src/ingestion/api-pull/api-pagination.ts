import { PaginationConfig } from './runtime/config';

/** Options of page-number pagination. */
export interface PageNumberPaginationOptions {
  /**
   * Query parameter carrying the page number.
   * @default 'page'
   */
  readonly parameter?: string;
  /**
   * Number of the first page.
   * @default 1
   */
  readonly startAt?: number;
  /**
   * Query parameter carrying the page size.
   * @default - no page size is sent
   */
  readonly pageSizeParameter?: string;
  /**
   * Page size sent (and expected: a shorter page is the last one).
   * @default - only an empty page ends the run
   */
  readonly pageSize?: number;
}

/** Options of offset pagination. */
export interface OffsetPaginationOptions {
  /**
   * Query parameter carrying the offset of the first record.
   * @default 'offset'
   */
  readonly offsetParameter?: string;
  /**
   * Query parameter carrying the number of records per page.
   * @default 'limit'
   */
  readonly limitParameter?: string;
  /**
   * Records per page; a shorter page is the last one.
   * @default 100
   */
  readonly limit?: number;
}

/** Options of cursor pagination. */
export interface CursorPaginationOptions {
  /** JSON path of the next cursor in each page, e.g. `$.meta.next_cursor`. Absent, null or empty ends the run. */
  readonly cursorPath: string;
  /**
   * Query parameter the cursor is sent in.
   * @default 'cursor'
   */
  readonly parameter?: string;
}

/**
 * How the puller walks an endpoint's pages. Every kind stops at the endpoint's `maxPages` guard
 * with an error (never silently); a cursor or `Link` that repeats stops the run with an error.
 */
export class ApiPagination {
  /** One request, one page. */
  public static none(): ApiPagination {
    return new ApiPagination({ kind: 'none' });
  }

  /**
   * `?page=1`, `?page=2`... until an empty page (or one shorter than `pageSize`). Needs the records path.
   * @param options the page parameter, its first value and the page size
   */
  public static pageNumber(options: PageNumberPaginationOptions = {}): ApiPagination {
    return new ApiPagination({
      kind: 'pageNumber',
      parameter: options.parameter ?? 'page',
      startAt: options.startAt ?? 1,
      pageSizeParameter: options.pageSizeParameter,
      pageSize: options.pageSize,
    });
  }

  /**
   * `?offset=0&limit=100`, `?offset=100&limit=100`... until a page shorter than `limit`. Needs the records path.
   * @param options the offset and limit parameters and the page size
   */
  public static offset(options: OffsetPaginationOptions = {}): ApiPagination {
    return new ApiPagination({
      kind: 'offset',
      offsetParameter: options.offsetParameter ?? 'offset',
      limitParameter: options.limitParameter ?? 'limit',
      limit: options.limit ?? 100,
    });
  }

  /**
   * The next page's cursor is read from each page at a JSON path and sent as a query parameter.
   * @param options where the next cursor is in a page and the parameter it is sent in
   */
  public static cursor(options: CursorPaginationOptions): ApiPagination {
    return new ApiPagination({ kind: 'cursor', cursorPath: options.cursorPath, parameter: options.parameter ?? 'cursor' });
  }

  /** The next page is the `rel="next"` target of the response's `Link` header (RFC 8288), on the same origin. */
  public static linkHeader(): ApiPagination {
    return new ApiPagination({ kind: 'linkHeader' });
  }

  /** The kind of pagination (`none`, `pageNumber`, `offset`, `cursor`, `linkHeader`). */
  public readonly kind: string;

  private constructor(private readonly config: PaginationConfig) {
    this.kind = config.kind;
  }

  /** @internal */
  public _config(): PaginationConfig {
    return this.config;
  }
}
