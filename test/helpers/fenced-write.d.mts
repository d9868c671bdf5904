export declare const FENCED_WRITE: string;
