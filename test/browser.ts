import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium driven by playwright-core (no browser download). `launchChromium`
 * answers null, with the reason, where Chromium cannot start; the browser tests then skip
 * and say so. CI installs it (.ci/run).
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export async function launchChromium(): Promise<{ browser: Browser } | { skipped: string }> {
  try {
    return { browser: await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true }) };
  } catch (error) {
    return { skipped: `Chromium cannot be launched from ${CHROMIUM} (apt-get install -y chromium): ${String(error).split('\n')[0]}` };
  }
}

/** Distinct colours in a PNG, decoded by the browser itself (a blank page has one or two). */
export async function distinctColours(browser: Browser, png: Buffer): Promise<number> {
  const page = await browser.newPage();
  try {
    return await page.evaluate(async (base64) => {
      const image = new Image();
      image.src = `data:image/png;base64,${base64}`;
      await image.decode();
      const canvas = new OffscreenCanvas(image.width, image.height);
      const context = canvas.getContext('2d')!;
      context.drawImage(image, 0, 0);
      const pixels = context.getImageData(0, 0, image.width, image.height).data;
      const colours = new Set<number>();
      for (let i = 0; i < pixels.length; i += 4) colours.add((pixels[i]! << 16) | (pixels[i + 1]! << 8) | pixels[i + 2]!);
      return colours.size;
    }, png.toString('base64'));
  } finally {
    await page.close();
  }
}
