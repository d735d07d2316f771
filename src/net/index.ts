/** The network driver: named netns + CNI bridge, internal DNS, iptables isolation. */
export { CniNetwork } from './driver.js';
export type { CniNetworkOptions } from './config.js';
