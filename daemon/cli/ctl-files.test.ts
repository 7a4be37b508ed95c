/** The name `ctl receive --save-attachments` gives a file: the sender's name is a label, never a path. */
import { describe, expect, it } from 'vitest';
import { savedAttachmentName } from './ctl-files.ts';

const ID = '17e2eb44a567ca066d4b5e01a2d3b8fe';

describe('savedAttachmentName', () => {
  it.each([
    ['report.bin', '17e2eb44-report.bin'],
    ['../../etc/passwd', '17e2eb44-_.._etc_passwd'],
    ['/abs/path name.txt', '17e2eb44-_abs_path_name.txt'],
    ['.hidden', '17e2eb44-hidden'],
    ['...', '17e2eb44-file'],
    ['', '17e2eb44-file'],
    ['naïve\u0000\n.log', '17e2eb44-na_ve__.log'],
  ])('%j → %j', (fileName, expected) => {
    expect(savedAttachmentName(ID, fileName)).toBe(expected);
  });

  it('keeps at most 200 characters of the name', () => {
    expect(savedAttachmentName(ID, 'a'.repeat(500))).toBe(`17e2eb44-${'a'.repeat(200)}`);
  });
});
