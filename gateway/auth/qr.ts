// An otpauth:// URI as a QR code in SVG (the qrcode package: we do not hand-roll QR encoding).
import QRCode from 'qrcode';

/** The SVG markup; the web UI shows it as an <img> data URL, never as inline markup. */
export function otpauthQrSvg(uri: string): Promise<string> {
  return QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}
