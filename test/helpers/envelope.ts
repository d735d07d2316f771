/** The UKC response envelope as tests read it. */
export interface Envelope {
  status: string;
  message?: string;
  data?: Record<string, Array<Record<string, unknown>>>;
  errors?: Array<{ status: number; message?: string }>;
  op_time_us: number;
}
